//! IAM OIDC identity providers (the issuers STS and identity pools accept tokens from).

use super::{
    IamResult, Req, already_exists, date, invalid_input, limit_exceeded, no_such_entity, tags_param,
};
use crate::model::OidcProvider;
use crate::query::ApiError;
use crate::store::{Edit, NS_OIDC};
use crate::xml::Xml;

/// `https://host/path/` → `host/path`.
pub(crate) fn provider_key(url: &str) -> String {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .unwrap_or(url);
    rest.trim_end_matches('/').to_owned()
}

fn key_of_arn(acct: &str, arn: &str) -> Option<String> {
    arn.strip_prefix(&format!("arn:aws:iam::{acct}:oidc-provider/"))
        .map(str::to_owned)
}

fn not_found(arn: &str) -> ApiError {
    no_such_entity(format!("OpenIDConnect Provider not found for arn {arn}"))
}

pub(crate) async fn handle(r: &Req<'_>) -> IamResult {
    let p = r.p;
    let acct = r.acct().to_owned();
    match r.action {
        "CreateOpenIDConnectProvider" => {
            let url = p.req("Url")?.trim().to_owned();
            // AWS requires https; plain http is accepted for local issuers (tests, user pools
            // served by cubby itself without TLS).
            if !(url.starts_with("https://") || url.starts_with("http://")) || url.len() > 255 {
                return Err(invalid_input(
                    "Invalid OpenID Connect Provider URL. The URL must begin with https://",
                ));
            }
            let key = provider_key(&url);
            if key.is_empty() || key.contains(['?', '#']) {
                return Err(invalid_input("Invalid OpenID Connect Provider URL."));
            }
            let arn = format!("arn:aws:iam::{acct}:oidc-provider/{key}");
            r.allow(&arn).await?;
            let client_ids = p.list("ClientIDList");
            if client_ids.len() > 100 {
                return Err(limit_exceeded(
                    "Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: 100",
                ));
            }
            let provider = OidcProvider {
                url: key.clone(),
                issuer: url.trim_end_matches('/').to_owned(),
                arn: arn.clone(),
                client_ids,
                thumbprints: p.list("ThumbprintList"),
                created: r.now,
                tags: tags_param(p)?,
            };
            if !r.id.store.insert(NS_OIDC, &key, &provider).await? {
                return Err(already_exists(format!(
                    "Provider with url {url} already exists."
                )));
            }
            let mut x = Xml::new();
            x.elem("OpenIDConnectProviderArn", &arn);
            if !provider.tags.is_empty() {
                x.tags(
                    "Tags",
                    provider
                        .tags
                        .iter()
                        .map(|t| (t.key.as_str(), t.value.as_str())),
                );
            }
            Ok(Some(x))
        }
        "ListOpenIDConnectProviders" => {
            r.allow("*").await?;
            let all = r.id.store.list_all::<OidcProvider>(NS_OIDC, "").await?;
            let mut x = Xml::new();
            x.open("OpenIDConnectProviderList");
            for (_, o) in &all {
                x.open("member").elem("Arn", &o.arn).close("member");
            }
            x.close("OpenIDConnectProviderList");
            Ok(Some(x))
        }
        _ => {
            let arn = p.req("OpenIDConnectProviderArn")?.to_owned();
            r.allow(&arn).await?;
            let key = key_of_arn(&acct, &arn).ok_or_else(|| not_found(&arn))?;
            match r.action {
                "GetOpenIDConnectProvider" => {
                    let (o, _) =
                        r.id.store
                            .get::<OidcProvider>(NS_OIDC, &key)
                            .await?
                            .ok_or_else(|| not_found(&arn))?;
                    let mut x = Xml::new();
                    x.elem("Url", &o.url)
                        .members("ClientIDList", o.client_ids.iter().map(String::as_str))
                        .members("ThumbprintList", o.thumbprints.iter().map(String::as_str));
                    date(&mut x, "CreateDate", o.created);
                    x.tags(
                        "Tags",
                        o.tags.iter().map(|t| (t.key.as_str(), t.value.as_str())),
                    );
                    Ok(Some(x))
                }
                "DeleteOpenIDConnectProvider" => {
                    if !r.id.store.delete(NS_OIDC, &key).await? {
                        return Err(not_found(&arn));
                    }
                    r.id.jwks.forget(&key);
                    Ok(None)
                }
                "AddClientIDToOpenIDConnectProvider"
                | "RemoveClientIDFromOpenIDConnectProvider"
                | "UpdateOpenIDConnectProviderThumbprint" => {
                    let add = r.action == "AddClientIDToOpenIDConnectProvider";
                    let client = if r.action == "UpdateOpenIDConnectProviderThumbprint" {
                        String::new()
                    } else {
                        p.req("ClientID")?.to_owned()
                    };
                    let thumbs = p.list("ThumbprintList");
                    let action = r.action;
                    let found =
                        r.id.store
                            .update(NS_OIDC, &key, |o: &mut OidcProvider| {
                                match action {
                                    "UpdateOpenIDConnectProviderThumbprint" => {
                                        o.thumbprints.clone_from(&thumbs)
                                    }
                                    _ if add => {
                                        if !o.client_ids.contains(&client) {
                                            o.client_ids.push(client.clone());
                                        }
                                    }
                                    _ => o.client_ids.retain(|c| *c != client),
                                }
                                Ok::<_, ApiError>(Edit::Write(()))
                            })
                            .await?;
                    if found.is_none() {
                        return Err(not_found(&arn));
                    }
                    Ok(None)
                }
                _ => Err(ApiError::validation("unsupported OIDC provider action")),
            }
        }
    }
}
