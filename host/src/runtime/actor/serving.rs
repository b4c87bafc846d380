//! Serving HTTP: `wasi:http/incoming-handler` in a fresh or warm instance,
//! the warm pool itself, and the latency of each call.

use super::*;

/// An HTTP call's guest run: over within its first poll, or going on in a
/// task of its own.
enum CallTask {
    Ended(Result<(), CallFailure>),
    Running(tokio::task::JoinHandle<Result<(), CallFailure>>),
}

/// An instance kept for its next HTTP call, with the store it lives in.
pub(super) struct Warm {
    store: Store<ActorCtx>,
    proxy: Proxy,
    /// Calls it has served.
    served: u32,
}

/// The warm list, even if a panic poisoned its lock.
fn lock(warm: &std::sync::Mutex<Vec<Warm>>) -> std::sync::MutexGuard<'_, Vec<Warm>> {
    warm.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Actor {
    /// Serves one HTTP request in a fresh instance.
    ///
    /// Waits up to the queue timeout for a free instance, then runs the
    /// guest's `handle` with the actor's memory limit and deadline. The
    /// future resolves when the guest sets its response; the body may still
    /// be streaming, and the instance lives until it ends or the deadline
    /// passes.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the response; a guest already running
    /// runs on to its end or its deadline, then its instance is dropped.
    pub async fn handle_http(
        &self,
        request: http::Request<HttpBody>,
    ) -> Result<http::Response<HttpBody>, InvocationError> {
        let span = lattice_rpc::trace_span!(
            "actor.call",
            actor = %self.id,
            interface = "wasi:http/incoming-handler",
            function = "handle"
        );
        let started = Instant::now();
        let answer = self
            .serve_http(request, &span)
            .instrument(span.clone())
            .await;
        self.answered(started, answer.as_ref().err(), &span);
        answer
    }

    /// Counts a call's time to its answer and marks its span when it failed.
    pub(super) fn answered(
        &self,
        started: Instant,
        error: Option<&InvocationError>,
        span: &tracing::Span,
    ) {
        self.counters
            .latency
            .observe(started.elapsed().as_secs_f64());
        if let Some(error) = error {
            lattice_rpc::telemetry::record_error(span, &error.message);
        }
    }

    /// How long this actor's calls took to answer (time to the response's
    /// head for HTTP), refusals included.
    pub fn latency(&self) -> &Histogram {
        &self.counters.latency
    }

    #[tracing::instrument(level = "debug", skip_all, fields(actor = %self.id))]
    async fn serve_http(
        &self,
        request: http::Request<HttpBody>,
        span: &tracing::Span,
    ) -> Result<http::Response<HttpBody>, InvocationError> {
        let prepared = self.prepared().await?;
        let Some(pre) = &prepared.http else {
            if let Some(command) = &prepared.wagi {
                return self.handle_wagi(command.clone(), request).await;
            }
            return Err(self.error(
                ErrorKind::NotFound,
                format_args!(
                    "does not export {HTTP_INCOMING_HANDLER} (nor wasi:cli/run, for WAGI)"
                ),
            ));
        };
        let permit = self.instance_permit().await?;
        self.counters.calls.fetch_add(1, Ordering::Relaxed);

        // A warm instance when the actor reuses them, else a fresh store.
        let (mut store, warm, served) = match self.take_warm() {
            Some(Warm {
                store,
                proxy,
                served,
            }) => (store, Some(proxy), served),
            None => (self.new_store(), None, 0),
        };
        self.arm(&mut store);

        let request = request.map(|body| {
            body.map_err(|e| wasmtime_wasi_http::Error::InternalError(Some(e.to_string())))
                .boxed_unsync()
        });
        let incoming = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, request)
            .map_err(|e| {
                InvocationError::new(ErrorKind::BadRequest, format!("bad request: {e:#}"))
            })?;
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let outparam = store
            .data_mut()
            .http()
            .new_response_outparam(sender)
            .map_err(|e| {
                self.error(
                    ErrorKind::Failed,
                    format_args!("cannot prepare the call: {e:#}"),
                )
            })?;

        let pre = pre.clone();
        let timeout = self.limits.timeout;
        let reuse = self.limits.instance_reuse;
        let keep = self.warm.clone();
        let mut call = Box::pin(
            async move {
                let _permit = permit;
                let call = async {
                    let proxy = match warm {
                        Some(proxy) => proxy,
                        None => pre.instantiate_async(&mut store).await?,
                    };
                    proxy
                        .wasi_http_incoming_handler()
                        .call_handle(&mut store, incoming, outparam)
                        .await
                        .map(|()| proxy)
                };
                match tokio::time::timeout(timeout, call).await {
                    Ok(Ok(proxy)) => {
                        // Only an instance whose call ended cleanly serves again.
                        let served = served.saturating_add(1);
                        if served < reuse {
                            lock(&keep).push(Warm {
                                store,
                                proxy,
                                served,
                            });
                        }
                        Ok(())
                    }
                    Ok(Err(error)) => {
                        let breached = store.data().limits.breached_at;
                        Err(CallFailure::Trap(error, breached))
                    }
                    Err(_elapsed) => Err(CallFailure::Deadline),
                }
            }
            .instrument(span.clone()),
        );
        // Most guests answer and finish in one go: then the call ends here,
        // on this task, with no task of its own. One that is still going
        // (a body longer than the pipe holds, a host call that waits) goes
        // on in its own task, which polls it again with its own waker, so
        // the response can be streamed while the guest writes it.
        // A panic is the call's failure, as it would be in a task.
        let first_poll = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(&mut call));
        let call = match futures::FutureExt::now_or_never(first_poll) {
            Some(Ok(ended)) => CallTask::Ended(ended),
            Some(Err(_panic)) => CallTask::Ended(Err(CallFailure::Trap(
                wasmtime::Error::msg("the call panicked"),
                None,
            ))),
            None => CallTask::Running(tokio::spawn(call)),
        };

        match receiver.await {
            Ok(Ok(response)) => {
                Ok(response.map(|body| body.map_err(|e| Box::new(e) as BoxError).boxed_unsync()))
            }
            Ok(Err(code)) => {
                self.counters.failed.fetch_add(1, Ordering::Relaxed);
                Err(self.error(
                    ErrorKind::Failed,
                    format_args!("answered with error {code:?}"),
                ))
            }
            Err(_no_response) => {
                self.counters.failed.fetch_add(1, Ordering::Relaxed);
                let ended = match call {
                    CallTask::Ended(ended) => Ok(ended),
                    CallTask::Running(task) => task.await,
                };
                let failure = match ended {
                    Ok(Ok(())) => CallFailure::GuestGaveNoResponse,
                    Ok(Err(failure)) => failure,
                    Err(join) => CallFailure::Trap(wasmtime::Error::msg(join.to_string()), None),
                };
                Err(self.describe(failure))
            }
        }
    }

    /// A warm instance, when the actor reuses instances and one is idle.
    fn take_warm(&self) -> Option<Warm> {
        if self.limits.instance_reuse <= 1 {
            return None;
        }
        lock(&self.warm).pop()
    }

    /// Instances kept warm for their next call.
    pub fn warm_instances(&self) -> usize {
        lock(&self.warm).len()
    }
}
