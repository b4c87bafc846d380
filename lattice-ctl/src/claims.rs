//! `lattice-ctl claims`: sign actors and providers, and read their claims.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use lattice_interfaces::claims::{
    binary_hash, claimed_target, current_target, parse_key_pair, read_component, sign_component,
    sign_provider, Claims, ComponentMetadata, ComponentSigning, KeyKind, ProviderClaims,
    ProviderMetadata, ProviderSigning,
};
use serde::Serialize;

use crate::output::{print, Format};

/// What `claims sign` was asked for.
#[derive(Debug, clap::Args)]
pub struct SignArgs {
    /// The component to sign
    pub input: PathBuf,
    /// Where to write the signed component [default: INPUT with `_s.wasm`]
    #[arg(short = 'd', long = "destination", value_name = "OUT.wasm")]
    pub destination: Option<PathBuf>,
    /// Account seed (SA…), or a file holding it, that vouches for the actor
    #[arg(
        long,
        env = "LATTICE_ISSUER_SEED",
        value_name = "SEED|FILE",
        hide_env_values = true
    )]
    pub issuer: String,
    /// Module seed (SM…), or a file, the actor's identity [default: a new key]
    #[arg(long, value_name = "SEED|FILE")]
    pub subject: Option<String>,
    /// A WIT interface the actor may import (ns:pkg/iface, ns:pkg/a,b or ns:pkg/*); repeat for more
    #[arg(long = "cap", value_name = "INTERFACE", value_parser = parse_capability)]
    pub capabilities: Vec<String>,
    /// A name for people [default: the file's stem]
    #[arg(long)]
    pub name: Option<String>,
    /// Version for people, e.g. 1.2.0
    #[arg(long)]
    pub ver: Option<String>,
    /// Revision number
    #[arg(long)]
    pub rev: Option<i32>,
    /// A free-form tag; repeat for more
    #[arg(long = "tag")]
    pub tags: Vec<String>,
    /// Valid for this long from now, e.g. 30d or 12h [default: forever]
    #[arg(long, value_parser = humantime::parse_duration)]
    pub expires_in: Option<Duration>,
    /// Valid only after this long from now, e.g. 1h [default: at once]
    #[arg(long, value_parser = humantime::parse_duration)]
    pub not_before: Option<Duration>,
}

/// What `claims sign-provider` was asked for.
#[derive(Debug, clap::Args)]
pub struct SignProviderArgs {
    /// The provider binary; its claims go to BINARY.jwt
    pub binary: PathBuf,
    /// Account seed (SA…), or a file holding it
    #[arg(
        long,
        env = "LATTICE_ISSUER_SEED",
        value_name = "SEED|FILE",
        hide_env_values = true
    )]
    pub issuer: String,
    /// Service seed (SV…), or a file, the provider's identity [default: a new key]
    #[arg(long, value_name = "SEED|FILE")]
    pub subject: Option<String>,
    /// A name for people
    #[arg(long)]
    pub name: Option<String>,
    /// Who makes it
    #[arg(long, default_value = "")]
    pub vendor: String,
    /// Version for people
    #[arg(long)]
    pub ver: Option<String>,
    /// Revision number
    #[arg(long)]
    pub rev: Option<i32>,
    /// The target the binary was built for [default: this machine's, e.g. x86_64-linux]
    #[arg(long)]
    pub target: Option<String>,
}

fn parse_capability(text: &str) -> Result<String, String> {
    let ok = match text.strip_suffix("/*") {
        Some(package) => lattice_interfaces::Contract::parse(&format!("{package}/x")).is_ok(),
        None => lattice_interfaces::Contract::parse(text).is_ok(),
    };
    if ok {
        Ok(text.to_string())
    } else {
        Err(format!("{text:?} is not a WIT interface: use namespace:package/interface, e.g. wasi:keyvalue/store"))
    }
}

fn unix_in(duration: Option<Duration>) -> Option<u64> {
    duration.map(|d| {
        (SystemTime::now() + d)
            .duration_since(UNIX_EPOCH)
            .map_or(0, |t| t.as_secs())
    })
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

fn subject_key(given: Option<&str>, kind: KeyKind) -> anyhow::Result<(nkeys::KeyPair, bool)> {
    match given {
        Some(text) => Ok((parse_key_pair(text, kind, "--subject")?, false)),
        None => Ok((kind.generate(), true)),
    }
}

/// `claims sign`.
pub fn sign(args: &SignArgs, format: Format) -> anyhow::Result<()> {
    let issuer = parse_key_pair(&args.issuer, KeyKind::Account, "--issuer")?;
    let (subject, generated) = subject_key(args.subject.as_deref(), KeyKind::Module)?;
    let wasm = read(&args.input)?;
    let destination = args.destination.clone().unwrap_or_else(|| {
        let stem = args
            .input
            .file_stem()
            .map_or_else(|| "actor".into(), |s| s.to_string_lossy().into_owned());
        args.input.with_file_name(format!("{stem}_s.wasm"))
    });
    let name = args.name.clone().or_else(|| {
        args.input
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
    });
    let signed = sign_component(
        &wasm,
        &issuer,
        &subject,
        &ComponentSigning {
            name,
            ver: args.ver.clone(),
            rev: args.rev,
            tags: args.tags.clone(),
            capabilities: args.capabilities.clone(),
            not_before: unix_in(args.not_before),
            expires: unix_in(args.expires_in),
        },
    )
    .with_context(|| format!("cannot sign {}", args.input.display()))?;
    crate::output::write_replacing(&destination, &signed.wasm)
        .with_context(|| format!("cannot write {}", destination.display()))?;
    if generated && format == Format::Table {
        println!(
            "Signed as a new module key; pass --subject to keep one identity across signings."
        );
    }
    show(&signed.claims, None, format, Some(&destination))
}

/// `claims sign-provider`.
pub fn sign_provider_binary(args: &SignProviderArgs) -> anyhow::Result<()> {
    let issuer = parse_key_pair(&args.issuer, KeyKind::Account, "--issuer")?;
    let (subject, _) = subject_key(args.subject.as_deref(), KeyKind::Service)?;
    let binary = read(&args.binary)?;
    let target = args.target.clone().unwrap_or_else(current_target);
    let jwt = sign_provider(
        &binary,
        &target,
        &issuer,
        &subject,
        &ProviderSigning {
            name: args.name.clone(),
            vendor: args.vendor.clone(),
            ver: args.ver.clone(),
            rev: args.rev,
            expires: None,
        },
    )?;
    let mut out = args.binary.clone().into_os_string();
    out.push(".jwt");
    crate::output::write_replacing(Path::new(&out), jwt.as_bytes())
        .with_context(|| format!("cannot write {}", Path::new(&out).display()))?;
    println!(
        "{} signed for {target} as {}: claims in {}",
        args.binary.display(),
        subject.public_key(),
        Path::new(&out).display()
    );
    Ok(())
}

/// `claims inspect`: a component's embedded claims, or a provider binary's
/// `BINARY.jwt` (given the binary or the `.jwt` file), checked.
pub fn inspect(path: &Path, format: Format) -> anyhow::Result<()> {
    let is_jwt = path.extension().is_some_and(|e| e == "jwt");
    let bytes = if is_jwt { Vec::new() } else { read(path)? };
    if !is_jwt && bytes.starts_with(b"\0asm") {
        return inspect_component(path, &bytes, format);
    }
    let (binary_path, jwt_path) = if is_jwt {
        (path.with_extension(""), path.to_path_buf())
    } else {
        let mut jwt = path.as_os_str().to_owned();
        jwt.push(".jwt");
        (path.to_path_buf(), PathBuf::from(jwt))
    };
    let binary = if is_jwt { read(&binary_path)? } else { bytes };
    inspect_provider(&binary_path, &binary, &jwt_path, format)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Shown either way, but claims that are not valid now are an error: a
/// script checking `claims inspect` must not take them for good ones.
fn valid_or_error(path: &Path, problem: Option<String>) -> anyhow::Result<()> {
    match problem {
        Some(problem) => Err(anyhow::anyhow!(
            "{}: claims not valid now: {problem}",
            path.display()
        )),
        None => Ok(()),
    }
}

fn inspect_component(path: &Path, wasm: &[u8], format: Format) -> anyhow::Result<()> {
    let (_, claims) = read_component(wasm)
        .with_context(|| format!("{}: claims refused", path.display()))?
        .ok_or_else(|| {
            anyhow::anyhow!("{}: not signed (no wasmcloud_jwt section)", path.display())
        })?;
    let problem = claims.check_time(now()).err().map(|e| e.to_string());
    show(&claims, problem.clone(), format, None)?;
    valid_or_error(path, problem)
}

fn inspect_provider(
    binary_path: &Path,
    binary: &[u8],
    jwt_path: &Path,
    format: Format,
) -> anyhow::Result<()> {
    let jwt = std::fs::read_to_string(jwt_path).map_err(|_| {
        anyhow::anyhow!(
            "{}: neither a component nor a signed provider binary (no {} beside it)",
            binary_path.display(),
            jwt_path.display()
        )
    })?;
    let claims = ProviderClaims::decode_verified(&jwt, KeyKind::Service)
        .with_context(|| format!("{}: claims refused", jwt_path.display()))?;
    let actual = binary_hash(binary);
    let target = claimed_target(&claims, &actual);
    let problem = match &target {
        None => Some(format!(
            "the binary's sha256 {actual} is none of the hashes its claims vouch for (changed since it was signed?)"
        )),
        Some(_) => claims.check_time(now()).err().map(|e| e.to_string()),
    };
    show_provider(&claims, target, problem.clone(), format)?;
    valid_or_error(binary_path, problem)
}

#[derive(Serialize)]
struct ShownProvider<'a> {
    issuer: &'a str,
    subject: &'a str,
    name: Option<&'a str>,
    vendor: &'a str,
    version: Option<&'a str>,
    revision: Option<i32>,
    target_hashes: &'a std::collections::BTreeMap<String, String>,
    matches_target: Option<String>,
    issued_at: String,
    expires: Option<String>,
    valid: bool,
    problem: Option<String>,
}

fn show_provider(
    claims: &ProviderClaims,
    target: Option<String>,
    problem: Option<String>,
    format: Format,
) -> anyhow::Result<()> {
    let empty = ProviderMetadata::default();
    let meta = claims.metadata.as_ref().unwrap_or(&empty);
    let shown = ShownProvider {
        issuer: &claims.issuer,
        subject: &claims.subject,
        name: meta.name.as_deref(),
        vendor: &meta.vendor,
        version: meta.ver.as_deref(),
        revision: meta.rev,
        target_hashes: &meta.target_hashes,
        matches_target: target,
        issued_at: time(claims.issued_at),
        expires: claims.expires.map(time),
        valid: problem.is_none(),
        problem,
    };
    let or_dash = |v: Option<&str>| v.unwrap_or("-").to_string();
    let rows = vec![
        ("Name", or_dash(shown.name)),
        ("Issuer (account)", shown.issuer.to_string()),
        ("Subject (service)", shown.subject.to_string()),
        (
            "Vendor",
            or_dash(Some(shown.vendor).filter(|v| !v.is_empty())),
        ),
        ("Version", or_dash(shown.version)),
        (
            "Revision",
            shown.revision.map_or_else(|| "-".into(), |r| r.to_string()),
        ),
        (
            "Targets",
            shown
                .target_hashes
                .iter()
                .map(|(target, hash)| format!("{target} {hash}"))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        ("Binary matches", or_dash(shown.matches_target.as_deref())),
        ("Issued", shown.issued_at.clone()),
        ("Expires", expires_row(shown.expires.as_deref())),
        ("Valid now", valid_row(shown.problem.as_deref())),
    ];
    print(format, &shown, &rows)
}

#[derive(Serialize)]
struct Shown<'a> {
    issuer: &'a str,
    subject: &'a str,
    name: Option<&'a str>,
    version: Option<&'a str>,
    revision: Option<i32>,
    hash: &'a str,
    tags: &'a [String],
    capabilities: &'a [String],
    issued_at: String,
    not_before: Option<String>,
    expires: Option<String>,
    valid: bool,
    problem: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    written_to: Option<String>,
}

/// The `Expires` row: a time, or `never`.
fn expires_row(expires: Option<&str>) -> String {
    expires.unwrap_or("never").to_string()
}

/// The `Valid now` row: `yes`, or `no: ` and why.
fn valid_row(problem: Option<&str>) -> String {
    problem.map_or_else(|| "yes".into(), |p| format!("no: {p}"))
}

fn time(secs: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string()
}

fn show(
    claims: &Claims<ComponentMetadata>,
    problem: Option<String>,
    format: Format,
    written_to: Option<&Path>,
) -> anyhow::Result<()> {
    let empty = ComponentMetadata::default();
    let meta = claims.metadata.as_ref().unwrap_or(&empty);
    let shown = Shown {
        issuer: &claims.issuer,
        subject: &claims.subject,
        name: meta.name.as_deref(),
        version: meta.ver.as_deref(),
        revision: meta.rev,
        hash: &meta.module_hash,
        tags: meta.tags.as_deref().unwrap_or(&[]),
        capabilities: &meta.capabilities,
        issued_at: time(claims.issued_at),
        not_before: claims.not_before.map(time),
        expires: claims.expires.map(time),
        valid: problem.is_none(),
        problem,
        written_to: written_to.map(|p| p.display().to_string()),
    };
    let or_dash = |v: Option<&str>| v.unwrap_or("-").to_string();
    let mut rows = vec![
        ("Name", or_dash(shown.name)),
        ("Issuer (account)", shown.issuer.to_string()),
        ("Subject (module)", shown.subject.to_string()),
        ("Version", or_dash(shown.version)),
        (
            "Revision",
            shown.revision.map_or_else(|| "-".into(), |r| r.to_string()),
        ),
        ("Hash", shown.hash.to_string()),
        (
            "Capabilities",
            if shown.capabilities.is_empty() {
                "none beyond the basic set".into()
            } else {
                shown.capabilities.join(", ")
            },
        ),
        (
            "Tags",
            if shown.tags.is_empty() {
                "-".into()
            } else {
                shown.tags.join(", ")
            },
        ),
        ("Issued", shown.issued_at.clone()),
        (
            "Not before",
            shown
                .not_before
                .clone()
                .unwrap_or_else(|| "immediately".into()),
        ),
        ("Expires", expires_row(shown.expires.as_deref())),
        ("Valid now", valid_row(shown.problem.as_deref())),
    ];
    if let Some(path) = &shown.written_to {
        rows.insert(0, ("Written to", path.clone()));
    }
    print(format, &shown, &rows)
}
