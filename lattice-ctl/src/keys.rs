//! `lattice-ctl keys`: make and inspect nkeys.

use lattice_interfaces::claims::KeyKind;
use serde::Serialize;

use crate::output::{print, Format};

#[derive(Serialize)]
struct Generated {
    public_key: String,
    seed: String,
}

/// `keys gen KIND`: prints a new key's public key and seed.
pub fn generate(kind: KeyKind, format: Format) -> anyhow::Result<()> {
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

#[derive(Serialize)]
struct Inspected {
    public_key: String,
    kind: String,
}

/// `keys inspect SEED|FILE`: prints the public key and kind of a seed.
pub fn inspect(seed_or_file: &str, format: Format) -> anyhow::Result<()> {
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
    print(
        format,
        &inspected,
        &[
            ("Kind", inspected.kind.clone()),
            ("Public key", inspected.public_key.clone()),
        ],
    )
}
