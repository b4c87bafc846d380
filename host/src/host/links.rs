//! Links on this host: checked before they are held, delivered to the
//! providers they name, mirrored from the lattice's bucket.

use std::sync::PoisonError;

use lattice_interfaces::{standard, Interface, Link, LinkKey};

use super::providers::RunningProvider;

use super::{read, Host, HostError};

impl Host {
    /// Hands `link` to the in-process providers at either end of it.
    pub(super) fn deliver_link(&self, link: &Link) -> Result<(), String> {
        let providers = read(&self.inner.providers);
        for end in [&link.source, &link.target] {
            if let Some(capability) = providers.get(end).and_then(RunningProvider::in_process) {
                capability.put_link(link)?;
            }
        }
        Ok(())
    }

    /// Takes `link` back from the in-process providers at either end of it.
    pub(super) fn withdraw_link(&self, link: &Link) {
        let providers = read(&self.inner.providers);
        for end in [&link.source, &link.target] {
            if let Some(capability) = providers.get(end).and_then(RunningProvider::in_process) {
                capability.delete_link(link);
            }
        }
    }

    pub(super) fn applying_link(&self) -> std::sync::MutexGuard<'_, ()> {
        self.inner
            .applying_link
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Stores a link the lattice agreed on (its KV bucket checked the key),
    /// and serves it when its source is a provider here. Unlike
    /// [`Self::put_link`], the ends need not run here: they may start later.
    /// A provider handed a link replaces what it served under the link's key.
    pub(crate) fn apply_lattice_link(&self, link: Link) {
        let _applying = self.applying_link();
        {
            let mut links = self.inner.router.links_mut();
            if links.get(&link.key()) == Some(&link) {
                return; // already applied (our own write, echoed by the bucket)
            }
            links.delete(&link.key());
            if let Err(clash) = links.put(link.clone()) {
                tracing::warn!(%clash, "link from the lattice clashes locally");
                return;
            }
        }
        if let Err(error) = self.deliver_link(&link) {
            tracing::warn!(%link, %error, "cannot serve link");
        }
        tracing::debug!(%link, "link applied from the lattice");
    }

    /// Refuses a link to an interface with resources when its target runs
    /// here: resources cannot cross hosts, and any call may.
    pub(crate) fn check_link_contract(&self, link: &Link) -> Result<(), HostError> {
        if let Some(actor) = self.actor(&link.target) {
            for interface in &link.interfaces {
                let name = format!("{}:{}/{interface}", link.namespace, link.package);
                // HTTP crosses hosts as HTTP messages, not as component values.
                if name != standard::HTTP_INCOMING_HANDLER.to_string()
                    && actor.exports_resources(&name)
                {
                    return Err(HostError::LinkRefused {
                        link: link.to_string(),
                        reason: format!(
                            "{name} of actor \"{}\" has resource types, which cannot cross hosts; link only interfaces without resources",
                            link.target
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    /// Checks that both ends of `link` run here, that a provider target
    /// serves every interface the link carries, that an HTTP target exports
    /// the handler, and that the interface has no resources.
    ///
    /// # Errors
    ///
    /// One line naming the link and what is wrong.
    pub fn check_link(&self, link: &Link) -> Result<(), HostError> {
        self.check_link_contract(link)?;
        let refuse = |reason: String| HostError::LinkRefused {
            link: link.to_string(),
            reason,
        };
        for (end, id) in [("source", &link.source), ("target", &link.target)] {
            if !read(&self.inner.actors).contains_key(id)
                && !read(&self.inner.providers).contains_key(id)
            {
                return Err(refuse(format!(
                    "{end} \"{id}\" is neither an actor nor a provider on this host"
                )));
            }
        }
        if let Some(provider) = read(&self.inner.providers).get(&link.target) {
            if let Some(capability) = provider.in_process() {
                for name in &link.interfaces {
                    let interface = Interface::new(&link.namespace, &link.package, name);
                    if !capability.serves(interface) {
                        return Err(refuse(format!(
                            "target \"{}\" is a {} provider, which does not serve {interface}",
                            link.target, provider.reference
                        )));
                    }
                }
            }
        }
        match self.actor(&link.target) {
            // An actor target must export every interface the link carries
            // (a messaging handler link needs `wasmcloud:messaging/handler`).
            Some(actor) => {
                for name in &link.interfaces {
                    let interface = Interface::new(&link.namespace, &link.package, name);
                    if !actor.serves(&interface.to_string()) {
                        return Err(refuse(format!(
                            "actor \"{}\" does not export {interface}, which this link needs",
                            link.target
                        )));
                    }
                }
            }
            None if link.carries(standard::HTTP_INCOMING_HANDLER) => {
                return Err(refuse(format!(
                    "target \"{}\" is not an actor",
                    link.target
                )))
            }
            None => {}
        }
        Ok(())
    }

    /// Puts a link: checks that both ends run here and that the target can
    /// serve the contract, stores it, and hands it to the provider at either
    /// end. A link that fails any step is not stored.
    ///
    /// # Errors
    ///
    /// One line naming the link and why it was refused.
    pub fn put_link(&self, link: Link) -> Result<(), HostError> {
        self.check_link(&link)?;
        let refuse = |reason: String| HostError::LinkRefused {
            link: link.to_string(),
            reason,
        };
        let replaced = self
            .inner
            .router
            .links_mut()
            .put(link.clone())
            .map_err(|clash| refuse(clash.to_string()))?;
        if let Err(error) = self.deliver_link(&link) {
            // Undo: the table holds only links that are served.
            let mut links = self.inner.router.links_mut();
            links.delete(&link.key());
            if let Some(previous) = replaced {
                let _ = links.put(previous);
            }
            return Err(refuse(error.replacen(&format!("link {link}: "), "", 1)));
        }
        tracing::info!(%link, "link put");
        Ok(())
    }

    /// Deletes the link with `key`; returns it.
    pub fn delete_link(&self, key: &LinkKey) -> Option<Link> {
        let _applying = self.applying_link();
        let link = self.inner.router.links_mut().delete(key)?;
        self.withdraw_link(&link);
        tracing::info!(%link, "link deleted");
        Some(link)
    }

    /// Every link this host holds.
    pub fn links(&self) -> Vec<Link> {
        self.inner.router.links().iter().cloned().collect()
    }
}
