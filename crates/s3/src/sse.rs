//! SSE-S3 at the S3 surface: the bucket's default encryption configuration, the
//! `x-amz-server-side-encryption` request header, and which blob writer an upload gets. The
//! cryptography (segment cipher, wrapped data keys) lives in `cubby_blob::sse`.
//!
//! Only `AES256` (SSE-S3) is implemented. `aws:kms` / `aws:kms:dsse` (there is no KMS here)
//! and SSE-C headers are answered `501 NotImplemented`, S3's code for "a header you provided
//! implies functionality that is not implemented" — never silently stored unencrypted.

use crate::config::BucketConfig;
use crate::objects::BlobRef;
use crate::service::{Ctx, S3Service};
use crate::xml::{elem, end, start};
use crate::{S3Error, S3Result};
use cubby_blob::sse::{DataKey, Kek, SealInfo};
use cubby_blob::{BlobId, BlobWriter, FsBlobStore};
use http::StatusCode;
use serde::Deserialize;

/// The request/response header naming the algorithm.
pub(crate) const HEADER: &str = "x-amz-server-side-encryption";

/// How a new blob is written.
#[derive(Clone, Debug, Default)]
pub(crate) enum Seal {
    /// Plaintext.
    #[default]
    Plain,
    /// A fresh data key for this blob.
    Object(Kek),
    /// A part of a multipart upload: the upload's data key and its wrapped form.
    Part(DataKey, SealInfo),
}

impl Seal {
    /// Open a writer of this kind; the [`SealInfo`] goes into the blob's layout entry.
    pub fn writer(&self, blobs: &FsBlobStore) -> S3Result<(BlobWriter, Option<SealInfo>)> {
        Ok(match self {
            Seal::Plain => (blobs.writer()?, None),
            Seal::Object(kek) => {
                let (w, i) = blobs.sealed_writer(kek)?;
                (w, Some(i))
            }
            Seal::Part(key, upload) => {
                let (w, i) = blobs.part_writer(key, upload)?;
                (w, Some(i))
            }
        })
    }
}

fn kms_not_implemented() -> S3Error {
    S3Error::new(
        "NotImplemented",
        StatusCode::NOT_IMPLEMENTED,
        "Server-side encryption with KMS keys (aws:kms) is not available on this server; use AES256 (SSE-S3).",
    )
}

/// The algorithm the request asks for: `Some(AES256)`, `None` when absent; an unknown value
/// is InvalidArgument, KMS and SSE-C are NotImplemented.
pub(crate) fn requested(ctx: &Ctx) -> S3Result<Option<&'static str>> {
    if ctx
        .header("x-amz-server-side-encryption-customer-algorithm")
        .is_some()
    {
        // Both kinds at once is a malformed request, whatever this server supports.
        if ctx.header(HEADER).is_some() {
            return Err(S3Error::invalid_argument(
                "Server Side Encryption with Customer provided key is incompatible with the encryption method specified",
            )
            .with("ArgumentName", HEADER));
        }
        return Err(S3Error::new(
            "NotImplemented",
            StatusCode::NOT_IMPLEMENTED,
            "Server-side encryption with customer-provided keys (SSE-C) is not available on this server.",
        ));
    }
    // A customer key without its algorithm, or a KMS key id with another algorithm, is a
    // malformed request (400), not a request for something unsupported.
    if ctx
        .header("x-amz-server-side-encryption-customer-key")
        .or(ctx.header("x-amz-server-side-encryption-customer-key-md5"))
        .is_some()
    {
        return Err(S3Error::invalid_argument(
            "Requests specifying Server Side Encryption with Customer provided keys must provide a valid encryption algorithm.",
        )
        .with("ArgumentName", "x-amz-server-side-encryption"));
    }
    let kms_key_named = ctx
        .header("x-amz-server-side-encryption-aws-kms-key-id")
        .is_some();
    match ctx.header(HEADER) {
        None | Some("AES256") if kms_key_named => Err(S3Error::invalid_argument(
            "Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms",
        )
        .with("ArgumentName", HEADER)),
        None => Ok(None),
        Some("AES256") => Ok(Some(cubby_blob::sse::ALGORITHM)),
        Some("aws:kms" | "aws:kms:dsse") => Err(kms_not_implemented()),
        Some(_) => Err(S3Error::invalid_argument(
            "The encryption method specified is not supported",
        )
        .with("ArgumentName", HEADER)),
    }
}

/// Whether a new object of this request is encrypted: the header, else the bucket default.
pub(crate) fn wanted(ctx: &Ctx) -> S3Result<bool> {
    Ok(requested(ctx)?.is_some() || ctx.sse_default)
}

/// The bucket's default algorithm, if its encryption configuration sets one.
pub(crate) fn bucket_default(cfg: &BucketConfig) -> bool {
    cfg.sse_default.as_deref() == Some(cubby_blob::sse::ALGORITHM)
}

/// The writer kind for a new object of this request.
pub(crate) fn seal_for(svc: &S3Service, ctx: &Ctx) -> S3Result<Seal> {
    if wanted(ctx)? {
        Ok(Seal::Object(kek(svc)?.clone()))
    } else {
        Ok(Seal::Plain)
    }
}

/// The key-encryption key; absent only when the embedding application configured none.
pub(crate) fn kek(svc: &S3Service) -> S3Result<&Kek> {
    svc.cfg
        .sse_kek
        .as_ref()
        .ok_or_else(|| S3Error::internal("SSE-S3 requested but no key-encryption key is set"))
}

/// The data key of an encrypted blob (None for a plaintext one).
pub(crate) fn open_key(svc: &S3Service, b: &BlobRef) -> S3Result<Option<DataKey>> {
    let Some(info) = &b.sse else {
        return Ok(None);
    };
    let id = BlobId::parse(&b.id).ok_or_else(|| S3Error::internal("bad blob id"))?;
    kek(svc)?
        .unwrap(info, &id)
        .map(Some)
        .map_err(|e| S3Error::internal(format!("blob {id}: {e}")))
}

#[derive(Deserialize)]
struct ConfigXml {
    #[serde(rename = "Rule", default)]
    rules: Vec<RuleXml>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RuleXml {
    apply_server_side_encryption_by_default: Option<ApplyXml>,
    bucket_key_enabled: Option<bool>,
}

#[derive(Deserialize)]
struct ApplyXml {
    #[serde(rename = "SSEAlgorithm")]
    algorithm: String,
    #[serde(rename = "KMSMasterKeyID")]
    kms_key: Option<String>,
}

/// Validate a PutBucketEncryption document; returns the canonical XML to store (what
/// GetBucketEncryption answers) and the default algorithm.
pub(crate) fn parse_config(raw: &[u8]) -> S3Result<(String, String)> {
    let text = std::str::from_utf8(raw).map_err(|_| S3Error::malformed_xml())?;
    let cfg: ConfigXml = quick_xml::de::from_str(text).map_err(|_| S3Error::malformed_xml())?;
    let [rule] = cfg.rules.as_slice() else {
        return Err(S3Error::malformed_xml());
    };
    let apply = rule
        .apply_server_side_encryption_by_default
        .as_ref()
        .ok_or_else(S3Error::malformed_xml)?;
    match apply.algorithm.as_str() {
        "AES256" => {}
        "aws:kms" | "aws:kms:dsse" => return Err(kms_not_implemented()),
        _ => return Err(S3Error::malformed_xml()),
    }
    if apply.kms_key.is_some() {
        return Err(S3Error::invalid_argument(
            "a KMSMasterKeyID is not applicable if the default sse algorithm is not aws:kms or aws:kms:dsse",
        ));
    }
    let mut x = start("ServerSideEncryptionConfiguration");
    x.push_str("<Rule><ApplyServerSideEncryptionByDefault>");
    elem(&mut x, "SSEAlgorithm", &apply.algorithm);
    x.push_str("</ApplyServerSideEncryptionByDefault>");
    elem(
        &mut x,
        "BucketKeyEnabled",
        if rule.bucket_key_enabled.unwrap_or(false) {
            "true"
        } else {
            "false"
        },
    );
    x.push_str("</Rule>");
    Ok((
        end(x, "ServerSideEncryptionConfiguration"),
        apply.algorithm.clone(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(body: &str) -> String {
        format!(
            "<ServerSideEncryptionConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">{body}</ServerSideEncryptionConfiguration>"
        )
    }

    #[test]
    fn config_validation() {
        let ok = doc(
            "<Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault><BucketKeyEnabled>true</BucketKeyEnabled></Rule>",
        );
        let (xml, algo) = parse_config(ok.as_bytes()).unwrap();
        assert_eq!(algo, "AES256");
        assert!(xml.contains("<BucketKeyEnabled>true</BucketKeyEnabled>"));
        // Canonical output parses back to the same thing.
        assert_eq!(parse_config(xml.as_bytes()).unwrap().0, xml);
        let code = |b: &str| parse_config(doc(b).as_bytes()).unwrap_err().code;
        assert_eq!(code(""), "MalformedXML");
        assert_eq!(
            code(
                "<Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES512</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule>"
            ),
            "MalformedXML"
        );
        assert_eq!(
            code(
                "<Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>aws:kms</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule>"
            ),
            "NotImplemented"
        );
        assert_eq!(
            code(
                "<Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm><KMSMasterKeyID>k</KMSMasterKeyID></ApplyServerSideEncryptionByDefault></Rule>"
            ),
            "InvalidArgument"
        );
        assert_eq!(parse_config(b"<nope").unwrap_err().code, "MalformedXML");
    }
}
