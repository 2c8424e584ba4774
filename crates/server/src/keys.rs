//! Root keys and the master key: from the environment, or generated on first start and kept
//! in the data dir (mode 0600).

use cubby_auth::session::MasterKey;
use std::io::Write;
use std::path::Path;

/// The account root's long-term key pair.
#[derive(Clone)]
pub struct RootKeys {
    /// Access key id (`AKIA…`).
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
}

impl std::fmt::Debug for RootKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RootKeys")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(contents.as_bytes())?;
    f.sync_all()?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

fn random_key_id(prefix: &str) -> String {
    let mut s = String::from(prefix);
    for _ in 0..16 {
        let i = (rand::random::<u8>() & 31) as usize;
        s.push(BASE32.get(i).copied().unwrap_or(b'A') as char);
    }
    s
}

fn random_secret() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    (0..40)
        .map(|_| {
            let i = (rand::random::<u8>() & 63) as usize;
            ALPHABET.get(i).copied().unwrap_or(b'A') as char
        })
        .collect()
}

/// Root keys from `CUBBY_ROOT_ACCESS_KEY_ID` / `CUBBY_ROOT_SECRET_ACCESS_KEY`, else from
/// `<data>/root-credentials`, else newly generated (returned with `true` so the caller prints
/// them once).
pub fn load_or_create_root_keys(data_dir: &Path) -> std::io::Result<(RootKeys, bool)> {
    if let (Ok(id), Ok(secret)) = (
        std::env::var("CUBBY_ROOT_ACCESS_KEY_ID"),
        std::env::var("CUBBY_ROOT_SECRET_ACCESS_KEY"),
    ) && !id.is_empty()
        && !secret.is_empty()
    {
        return Ok((
            RootKeys {
                access_key_id: id,
                secret_access_key: secret,
            },
            false,
        ));
    }
    let path = data_dir.join("root-credentials");
    if let Ok(text) = std::fs::read_to_string(&path) {
        let mut lines = text.lines();
        if let (Some(id), Some(secret)) = (lines.next(), lines.next()) {
            return Ok((
                RootKeys {
                    access_key_id: id.trim().to_owned(),
                    secret_access_key: secret.trim().to_owned(),
                },
                false,
            ));
        }
        return Err(std::io::Error::other(format!(
            "{} is unreadable: expected two lines (access key id, secret)",
            path.display()
        )));
    }
    let keys = RootKeys {
        access_key_id: random_key_id("AKIA"),
        secret_access_key: random_secret(),
    };
    write_private(
        &path,
        &format!("{}\n{}\n", keys.access_key_id, keys.secret_access_key),
    )?;
    Ok((keys, true))
}

/// The master key from `CUBBY_MASTER_KEY_FILE` (64 hex chars), else `<data>/master.key`,
/// generated on first start.
pub fn load_or_create_master_key(data_dir: &Path) -> std::io::Result<MasterKey> {
    let path = match std::env::var("CUBBY_MASTER_KEY_FILE") {
        Ok(p) if !p.is_empty() => {
            let text = std::fs::read_to_string(&p)?;
            return MasterKey::from_hex(text.trim_end_matches(['\n', '\r']))
                .map_err(|e| std::io::Error::other(format!("{p}: {e}")));
        }
        _ => data_dir.join("master.key"),
    };
    if let Ok(text) = std::fs::read_to_string(&path) {
        return MasterKey::from_hex(text.trim_end_matches(['\n', '\r']))
            .map_err(|e| std::io::Error::other(format!("{}: {e}", path.display())));
    }
    let bytes: [u8; 32] = rand::random();
    let key = MasterKey::from_bytes(bytes);
    write_private(&path, &format!("{}\n", hex::encode(bytes)))?;
    Ok(key)
}
