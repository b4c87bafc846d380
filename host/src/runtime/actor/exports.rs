//! Calls of an actor's exports other than HTTP: typed functions, messages
//! for `wasmcloud:messaging/handler`, and WAVE from the control plane.

use super::*;

impl Actor {
    /// Calls `function` of exported `interface` (`ns:pkg/iface`, any
    /// version) in a fresh instance, with the same limits as any call.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops the instance mid-call.
    #[tracing::instrument(level = "debug", skip_all, fields(actor = %self.id, interface, function))]
    pub async fn call_function(
        &self,
        interface: &str,
        function: &str,
        params: Vec<Val>,
    ) -> Result<Vec<Val>, InvocationError> {
        self.run_export(interface, function, move |store, func| {
            Box::pin(async move {
                let mut results = vec![Val::Bool(false); func.ty(&*store).results().len()];
                func.call_async(store, &params, &mut results).await?;
                Ok(results)
            })
        })
        .await
    }

    /// Runs `call` on `function` of exported `interface` (any version) in a
    /// fresh instance, under the actor's limits: the one path of every call
    /// that is not HTTP.
    async fn run_export<T>(
        &self,
        interface: &str,
        function: &str,
        call: impl for<'s> FnOnce(
            &'s mut Store<ActorCtx>,
            wasmtime::component::Func,
        ) -> futures::future::BoxFuture<'s, wasmtime::Result<T>>,
    ) -> Result<T, InvocationError> {
        let span = lattice_rpc::trace_span!(
            "actor.call",
            actor = %self.id,
            interface,
            function
        );
        let started = Instant::now();
        let answer = async {
            let Some(export) = self
                .code
                .shape
                .exports
                .iter()
                .find(|name| crate::runtime::calls::unversioned(name) == interface)
                .cloned()
            else {
                return Err(self.error(
                    ErrorKind::NotFound,
                    format_args!("does not export {interface}"),
                ));
            };
            let prepared = self.prepared().await?;
            let _permit = self.instance_permit().await?;
            self.counters.calls.fetch_add(1, Ordering::Relaxed);
            let mut store = self.new_store();
            let timeout = self.limits.timeout;
            let run = async {
                let instance = prepared.pre.instantiate_async(&mut store).await?;
                let Some(func) = instance
                    .get_export_index(&mut store, None, &export)
                    .and_then(|parent| {
                        instance.get_export_index(&mut store, Some(&parent), function)
                    })
                    .and_then(|index| instance.get_func(&mut store, index))
                else {
                    return Ok(None);
                };
                call(&mut store, func).await.map(Some)
            };
            let outcome = match tokio::time::timeout(timeout, run).await {
                Ok(Ok(Some(results))) => return Ok(results),
                Ok(Ok(None)) => {
                    return Err(self.error(
                        ErrorKind::NotFound,
                        format_args!("has no function {function} in {interface}"),
                    ))
                }
                Ok(Err(error)) => {
                    let breached = store.data().limits.breached_at;
                    CallFailure::Trap(error, breached)
                }
                Err(_elapsed) => CallFailure::Deadline,
            };
            self.counters.failed.fetch_add(1, Ordering::Relaxed);
            Err(self.describe(outcome))
        }
        .instrument(span.clone())
        .await;
        self.answered(started, answer.as_ref().err(), &span);
        answer
    }

    /// Hands `message` to the actor's `wasmcloud:messaging/handler`
    /// `handle-message` in a fresh instance, as typed values: the body is
    /// copied into the guest once, never spread into a value per byte. The
    /// handler's own answer is the inner result.
    ///
    /// # Errors
    ///
    /// The actor exports no handler, or the call failed (trap, deadline,
    /// memory limit), as [`Self::call_function`] reports it.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops the instance mid-call.
    #[tracing::instrument(level = "debug", skip_all, fields(actor = %self.id))]
    pub async fn handle_message(
        &self,
        message: lattice_interfaces::messaging::Message,
    ) -> Result<Result<(), String>, InvocationError> {
        /// `wasmcloud:messaging/types.broker-message`.
        #[derive(wasmtime::component::ComponentType, wasmtime::component::Lower)]
        #[component(record)]
        struct BrokerMessage {
            subject: String,
            body: Vec<u8>,
            #[component(name = "reply-to")]
            reply_to: Option<String>,
        }
        let interface = lattice_interfaces::standard::MESSAGING_HANDLER.to_string();
        let handed_reply = message.reply_to.clone();
        let argument = BrokerMessage {
            subject: message.subject,
            body: message.body,
            reply_to: message.reply_to,
        };
        self.run_export(
            &interface,
            lattice_interfaces::messaging::wire::HANDLE_MESSAGE,
            move |store, func| {
                Box::pin(async move {
                    store.data_mut().handed_reply = handed_reply;
                    let typed = func.typed::<(BrokerMessage,), (Result<(), String>,)>(&*store)?;
                    let (outcome,) = typed.call_async(store, (argument,)).await?;
                    Ok(outcome)
                })
            },
        )
        .await
    }

    /// Calls `function` (`ns:pkg/iface.function`) with `args` written in
    /// WAVE, as `lattice-ctl call` does; the results in WAVE. A name, an
    /// argument count or an argument that does not fit the export is
    /// refused in one line before anything runs.
    ///
    /// # Cancel safety
    ///
    /// As [`Self::call_function`].
    pub async fn call_wave(
        &self,
        function: &str,
        args: &[String],
    ) -> Result<Vec<String>, InvocationError> {
        let call = crate::runtime::wave::parse(
            self.runtime.engine(),
            self.prepared().await?.pre.component(),
            function,
            args,
        )
        .map_err(|reason| self.error(ErrorKind::BadRequest, reason))?;
        tracing::debug!(export = %call.export, function = %call.function, "call from the control plane");
        let results = self
            .call_function(&call.interface, &call.function, call.params)
            .await?;
        crate::runtime::wave::show(&results).map_err(|reason| self.error(ErrorKind::Failed, reason))
    }
}
