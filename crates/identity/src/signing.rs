//! The identity pools' token-signing key: generated once per cluster, stored in the document
//! table sealed with a subkey of the master key (AEAD, bound to its key id).

use crate::Identity;
use crate::jwt::Signer;
use crate::store::NS_KEYS;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

const DOC_KEY: &str = "identity-pool-signing";

#[derive(Serialize, Deserialize)]
struct StoredKey {
    kid: String,
    sealed: String,
}

fn aad(kid: &str) -> String {
    format!("cubby/identity-signing-key/{kid}")
}

impl Identity {
    fn unseal_key(&self, doc: &StoredKey) -> Result<Signer, String> {
        let der =
            cubby_auth::session::open(&self.master, &aad(&doc.kid), &doc.sealed).map_err(|_| {
                "the stored signing key does not unseal with this master key".to_owned()
            })?;
        Signer::from_pkcs1_der(&doc.kid, &der).map_err(|e| e.to_string())
    }

    /// The signing key, loaded or generated on first use.
    pub(crate) async fn signer(&self) -> Result<Arc<Signer>, String> {
        self.signer
            .get_or_try_init(|| async {
                if let Some((doc, _)) = self
                    .store
                    .get::<StoredKey>(NS_KEYS, DOC_KEY)
                    .await
                    .map_err(|e| e.to_string())?
                {
                    return self.unseal_key(&doc).map(Arc::new);
                }
                let kid = format!("{}1", self.cfg.region);
                let k = kid.clone();
                let (signer, der) = tokio::task::spawn_blocking(move || Signer::generate(&k))
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string())?;
                let doc = StoredKey {
                    sealed: cubby_auth::session::seal(
                        &self.master,
                        &aad(&kid),
                        &der,
                        crate::util::random_bytes::<24>(),
                    ),
                    kid,
                };
                if self
                    .store
                    .insert(NS_KEYS, DOC_KEY, &doc)
                    .await
                    .map_err(|e| e.to_string())?
                {
                    return Ok(Arc::new(signer));
                }
                // Another node won the race: use its key.
                match self
                    .store
                    .get::<StoredKey>(NS_KEYS, DOC_KEY)
                    .await
                    .map_err(|e| e.to_string())?
                {
                    Some((doc, _)) => self.unseal_key(&doc).map(Arc::new),
                    None => Err("signing key vanished".to_owned()),
                }
            })
            .await
            .cloned()
    }

    /// The public keys of the identity pools' own tokens (`iss`
    /// `https://cognito-identity.amazonaws.com`, basic flow and developer identities) as a JWKS
    /// document — what AWS publishes at `https://cognito-identity.amazonaws.com/.well-known/jwks_uri`,
    /// so a backend can verify those tokens itself.
    pub async fn pool_token_jwks(&self) -> Result<String, String> {
        let signer = self.signer().await?;
        serde_json::to_string(signer.jwks()).map_err(|e| e.to_string())
    }
}
