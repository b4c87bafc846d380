//! The routing table of one listening address: path prefixes to links.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use lattice_interfaces::{Link, LinkKey};

/// One link served on an address.
#[derive(Debug, Clone)]
pub struct Route {
    /// Path prefix, normalised to start with `/` and not end with one
    /// (except `/` itself).
    pub prefix: String,
    /// The link requests under `prefix` travel over.
    pub link: Arc<Link>,
}

/// Why a link cannot be routed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// The link's `path` is not a path.
    #[error("link {link}: path {path:?} must start with '/'")]
    BadPath {
        /// The link, displayed.
        link: String,
        /// The rejected path.
        path: String,
    },
    /// Another link already serves this address and prefix.
    #[error("link {link}: {address} path {prefix} is already served by link {existing}")]
    Taken {
        /// The new link, displayed.
        link: String,
        /// The address both name.
        address: String,
        /// The prefix both name.
        prefix: String,
        /// The link that holds it, displayed.
        existing: String,
    },
}

/// Normalises a `path` config value into a prefix.
/// Whether links `a` and `b` (from one HTTP server provider) would serve
/// the same address and path prefix, which the provider refuses. Links on
/// port 0 (a free port each) never clash.
pub fn same_route(a: &Link, b: &Link) -> bool {
    fn address(link: &Link) -> Option<&str> {
        link.config("address").map(str::trim)
    }
    match (address(a), address(b)) {
        (Some(x), Some(y)) if x == y && !x.ends_with(":0") => {
            matches!((prefix_of(a), prefix_of(b)), (Ok(p), Ok(q)) if p == q)
        }
        _ => false,
    }
}

/// The path prefix `link` serves (`path` in its config, default `/`),
/// without a trailing `/`.
pub(crate) fn prefix_of(link: &Link) -> Result<String, RouteError> {
    let path = link.config("path").unwrap_or("/");
    if !path.starts_with('/') {
        return Err(RouteError::BadPath {
            link: link.to_string(),
            path: path.to_string(),
        });
    }
    let trimmed = path.trim_end_matches('/');
    Ok(if trimmed.is_empty() {
        "/".to_string()
    } else {
        trimmed.to_string()
    })
}

/// Routes of one address: by prefix, and the prefix of each link. A
/// request's route is found in O(segments · log routes), and a link is
/// added or removed in O(log routes), however many links share the address.
#[derive(Debug, Clone, Default)]
pub(crate) struct RouteTable {
    routes: BTreeMap<String, Route>,
    prefixes: HashMap<LinkKey, String>,
}

impl RouteTable {
    pub(crate) fn insert(&mut self, address: &str, route: Route) -> Result<(), RouteError> {
        let key = route.link.key();
        if let Some(existing) = self.routes.get(&route.prefix) {
            if existing.link.key() != key {
                return Err(RouteError::Taken {
                    link: route.link.to_string(),
                    address: address.to_string(),
                    prefix: route.prefix,
                    existing: existing.link.to_string(),
                });
            }
        }
        if let Some(old) = self.prefixes.insert(key, route.prefix.clone()) {
            self.routes.remove(&old);
        }
        self.routes.insert(route.prefix.clone(), route);
        Ok(())
    }

    /// Removes the route of the link with `link`'s key; true when one was removed.
    pub(crate) fn remove(&mut self, link: &Link) -> bool {
        match self.prefixes.remove(&link.key()) {
            Some(prefix) => self.routes.remove(&prefix).is_some(),
            None => false,
        }
    }

    /// The route of the link with `key`, if this table has one.
    pub(crate) fn route_of(&self, key: &LinkKey) -> Option<&Route> {
        self.prefixes
            .get(key)
            .and_then(|prefix| self.routes.get(prefix))
    }

    pub(crate) fn routes(&self) -> impl Iterator<Item = &Route> {
        self.routes.values()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// The link serving `path`, if any: the longest prefix that is `path`
    /// itself or ends where one of its segments ends.
    pub(crate) fn find(&self, path: &str) -> Option<&Arc<Link>> {
        let mut candidate = path;
        loop {
            if let Some(route) = self.routes.get(candidate) {
                return Some(&route.link);
            }
            match candidate.rfind('/').and_then(|end| candidate.get(..end)) {
                Some(parent) if !parent.is_empty() => candidate = parent,
                _ => break,
            }
        }
        self.routes.get("/").map(|route| &route.link)
    }
}

#[cfg(test)]
mod tests {
    // The unwraps below are assertions on values the tests build: a failure
    // fails the test. This module is compiled only for `cargo test`.
    use super::*;
    use lattice_interfaces::{ComponentId, Contract};

    fn link(target: &str, name: &str, path: &str) -> Arc<Link> {
        let mut link = Link::new(
            ComponentId::new("http").unwrap(),
            ComponentId::new(target).unwrap(),
            Contract::parse("wasi:http/incoming-handler").unwrap(),
        );
        link.name = name.into();
        link.source_config.insert("path".into(), path.into());
        Arc::new(link)
    }

    fn route(l: Arc<Link>) -> Route {
        Route {
            prefix: prefix_of(&l).unwrap(),
            link: l,
        }
    }

    #[test]
    fn longest_whole_segment_prefix_wins() {
        let mut table = RouteTable::default();
        table.insert("a", route(link("root", "r", "/"))).unwrap();
        table.insert("a", route(link("api", "a", "/api/"))).unwrap();
        let target = |p: &str| table.find(p).map(|l| l.target.to_string());
        assert_eq!(target("/api").as_deref(), Some("api"));
        assert_eq!(target("/api/users").as_deref(), Some("api"));
        assert_eq!(target("/apix").as_deref(), Some("root"));
        assert_eq!(target("/").as_deref(), Some("root"));
    }

    #[test]
    fn deeper_prefixes_win_over_shallower_ones_and_a_link_moves_its_route() {
        let mut table = RouteTable::default();
        table.insert("a", route(link("api", "a", "/api"))).unwrap();
        table
            .insert("a", route(link("v2", "b", "/api/v2")))
            .unwrap();
        let target = |t: &RouteTable, p: &str| t.find(p).map(|l| l.target.to_string());
        assert_eq!(target(&table, "/api/v2/x").as_deref(), Some("v2"));
        assert_eq!(target(&table, "/api/v2").as_deref(), Some("v2"));
        assert_eq!(target(&table, "/api/v2x").as_deref(), Some("api"));
        assert_eq!(target(&table, "/api/").as_deref(), Some("api"));
        assert_eq!(target(&table, "no-slash"), None);
        // The same link at another path leaves its old prefix.
        table.insert("a", route(link("v2", "b", "/v2"))).unwrap();
        assert_eq!(target(&table, "/api/v2/x").as_deref(), Some("api"));
        assert_eq!(target(&table, "/v2").as_deref(), Some("v2"));
        assert!(table.remove(&link("v2", "b", "/anything")));
        assert_eq!(target(&table, "/v2"), None);
        assert!(!table.remove(&link("v2", "b", "/v2")));
    }

    #[test]
    fn no_root_means_not_found() {
        let mut table = RouteTable::default();
        table.insert("a", route(link("api", "a", "/api"))).unwrap();
        assert!(table.find("/other").is_none());
    }

    #[test]
    fn same_prefix_for_another_link_is_refused() {
        let mut table = RouteTable::default();
        table.insert("a", route(link("one", "x", "/"))).unwrap();
        let err = table.insert("a", route(link("two", "y", "/"))).unwrap_err();
        assert!(
            err.to_string()
                .contains("is already served by link http -> one"),
            "{err}"
        );
    }

    #[test]
    fn relative_path_is_refused() {
        assert!(matches!(
            prefix_of(&link("x", "x", "api")),
            Err(RouteError::BadPath { .. })
        ));
    }
}
