//! Parsing what the lattice commands take: `KEY=VALUE` pairs.

/// Parses `KEY=VALUE[,KEY=VALUE...]`: a comma starts a new pair only when
/// what follows has a `=`, so `address=IP:PORT,path=/api` is two pairs and
/// `subscriptions=a.b,c.>` one.
pub fn parse_pairs(text: &str) -> Result<Pairs, String> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for chunk in text.split(',') {
        match (chunk.split_once('='), pairs.last_mut()) {
            (Some((key, value)), _) if !key.is_empty() => {
                pairs.push((key.trim().to_string(), value.to_string()));
            }
            (None, Some((_, value))) => {
                value.push(',');
                value.push_str(chunk);
            }
            _ => return Err(format!("{text:?} is not KEY=VALUE[,KEY=VALUE...]")),
        }
    }
    Ok(Pairs(pairs))
}

/// Pairs given to one `--source-config`, `--target-config` or `--config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pairs(pub Vec<(String, String)>);

/// Every pair of repeated `--...-config` flags, in order.
pub fn flatten(pairs: Vec<Pairs>) -> Vec<(String, String)> {
    pairs.into_iter().flat_map(|p| p.0).collect()
}

/// Parses `KEY=VALUE`.
pub fn parse_pair(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("{text:?} is not KEY=VALUE")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, String)> {
        parse_pairs(text).unwrap().0
    }

    #[test]
    fn commas_separate_pairs_only_before_a_key() {
        let owned = |v: &[(&str, &str)]| {
            v.iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            pairs("address=127.0.0.1:8080,path=/api"),
            owned(&[("address", "127.0.0.1:8080"), ("path", "/api")])
        );
        assert_eq!(
            pairs("subscriptions=a.b,c.>"),
            owned(&[("subscriptions", "a.b,c.>")])
        );
        assert!(parse_pairs("no-equals").is_err());
        assert!(parse_pairs("=value").is_err());
    }
}
