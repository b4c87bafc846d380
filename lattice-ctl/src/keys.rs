//! `lattice-ctl keys`: make and inspect nkeys.

use anyhow::Context as _;
use lattice_interfaces::claims::KeyKind;
use serde::Serialize;

use crate::output::{print, Format};

#[derive(Serialize)]
struct Generated {
    public_key: String,
    seed: String,
}

/// `keys gen KIND [--seed-file FILE]`: prints a new key's public key and
/// seed, or writes the seed to a new file only its owner can read and
/// prints the public key. A seed file that exists already holding a key
/// of that kind is kept: its public key is printed (so walk-throughs and
/// scripts can run again); holding anything else, it is refused.
pub fn generate(
    kind: KeyKind,
    seed_file: Option<&std::path::Path>,
    format: Format,
) -> anyhow::Result<()> {
    if let Some(path) = seed_file {
        let (pair, made) = kept_or_made(path, kind)?;
        if !made {
            eprintln!(
                "note: {} holds a key of kind {kind} already: kept, its public key below (delete the file for a new key)",
                path.display()
            );
        }
        #[derive(Serialize)]
        struct Written {
            public_key: String,
            seed_file: String,
        }
        let written = Written {
            public_key: pair.public_key(),
            seed_file: path.display().to_string(),
        };
        return print(
            format,
            &written,
            &[
                ("Kind", kind.to_string()),
                ("Public key", written.public_key.clone()),
                ("Seed file", written.seed_file.clone()),
            ],
        );
    }
    let pair = kind.generate();
    let generated = Generated {
        public_key: pair.public_key(),
        seed: pair
            .seed()
            .map_err(|e| anyhow::anyhow!("cannot encode the new seed: {e}"))?,
    };
    print(
        format,
        &generated,
        &[
            ("Kind", kind.to_string()),
            ("Public key", generated.public_key.clone()),
            ("Seed", generated.seed.clone()),
        ],
    )
}

/// The key of `kind` in the seed file at `path`, or a new one written
/// there (only its owner can read it); whether it was made.
///
/// # Errors
///
/// The file holds something else, or cannot be read or written.
pub(crate) fn kept_or_made(
    path: &std::path::Path,
    kind: KeyKind,
) -> anyhow::Result<(nkeys::KeyPair, bool)> {
    if path.exists() {
        return Ok((existing_seed(kind, path)?, false));
    }
    let pair = kind.generate();
    let seed = pair
        .seed()
        .map_err(|e| anyhow::anyhow!("cannot encode the new seed: {e}"))?;
    write_secret(path, &seed)?;
    Ok((pair, true))
}

/// The key of kind `kind` in the seed file at `path`.
pub(crate) fn existing_seed(
    kind: KeyKind,
    path: &std::path::Path,
) -> anyhow::Result<nkeys::KeyPair> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{shown}: exists and cannot be read"))?;
    let pair = nkeys::KeyPair::from_seed(text.trim()).map_err(|_| {
        anyhow::anyhow!(
            "{shown}: exists and holds no nkeys seed; name another file, or move it away"
        )
    })?;
    if KeyKind::of(&pair) != Some(kind) {
        anyhow::bail!(
            "{shown}: holds a key of kind {}, not {kind}; name another file",
            KeyKind::of(&pair).map_or_else(|| "different".to_string(), |k| k.to_string())
        );
    }
    Ok(pair)
}

#[derive(Serialize)]
struct Inspected {
    public_key: String,
    kind: String,
}

/// `keys inspect SEED|FILE [--public-key]`: prints the public key and kind
/// of a seed, or the public key alone (for scripts).
pub fn inspect(seed_or_file: &str, public_key_only: bool, format: Format) -> anyhow::Result<()> {
    let text = if std::path::Path::new(seed_or_file).is_file() {
        std::fs::read_to_string(seed_or_file)?
    } else {
        seed_or_file.to_string()
    };
    let pair = nkeys::KeyPair::from_seed(text.trim())
        .map_err(|_| anyhow::anyhow!("not an nkeys seed (S…) or a file holding one"))?;
    let kind = KeyKind::of(&pair).map_or_else(
        || format!("{:?}", pair.key_pair_type()).to_lowercase(),
        |k| k.to_string(),
    );
    let inspected = Inspected {
        public_key: pair.public_key(),
        kind,
    };
    if public_key_only {
        println!("{}", inspected.public_key);
        return Ok(());
    }
    print(
        format,
        &inspected,
        &[
            ("Kind", inspected.kind.clone()),
            ("Public key", inspected.public_key.clone()),
        ],
    )
}

/// Writes `secret` to a new file `path` that only its owner can read;
/// refuses to overwrite one.
pub(crate) fn write_secret(path: &std::path::Path, secret: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
    writeln!(file, "{secret}").map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))
}
