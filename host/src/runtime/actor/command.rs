//! HTTP through a WASI command (WAGI, see [`crate::runtime::wagi`]): the
//! request's body read within the instance's limits, the program run once,
//! its CGI answer read back.

use super::*;

impl Actor {
    /// Serves one HTTP request by running the WASI command in a fresh
    /// instance (WAGI, see [`crate::runtime::wagi`]): the request as CGI variables
    /// and stdin, the response from stdout. A program that exits non-zero,
    /// traps or writes no valid CGI response gets a 502 naming the reason;
    /// one still running at the deadline, a 504 (a `timeout` error).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops the instance mid-run.
    pub(super) async fn handle_wagi(
        &self,
        command: wasmtime_wasi::p2::bindings::CommandPre<ActorCtx>,
        request: http::Request<HttpBody>,
    ) -> Result<http::Response<HttpBody>, InvocationError> {
        // The permit first: at most max_instances bodies are held at once.
        // The body then counts against the instance's memory limit and
        // must arrive within its deadline: a trickled upload cannot hold
        // the permit and the bytes for longer (issue 29, finding 6).
        let _permit = self.instance_permit().await?;
        self.counters.calls.fetch_add(1, Ordering::Relaxed);
        let (head, body) = request.into_parts();
        let mut ctx = self.new_ctx();
        let mut input_room =
            crate::runtime::wagi::MAX_INPUT_BYTES.min(ctx.limits.allowance.limit());
        let read = lattice_interfaces::http::wire::collect_reserving(
            body,
            "request",
            crate::runtime::wagi::MAX_INPUT_BYTES,
            |chunk| {
                input_room = input_room
                    .checked_sub(chunk)
                    .ok_or_else(|| self.wagi_body_too_large())?;
                Ok(())
            },
        );
        let body = tokio::time::timeout(self.limits.timeout, read)
            .await
            .map_err(|_| {
                self.error(
                    ErrorKind::Timeout,
                    format_args!(
                        "the request body did not arrive within the deadline ({:?})",
                        self.limits.timeout
                    ),
                )
            })??;
        ctx.limits
            .allowance
            .hold(body.len())
            .map_err(|_| self.wagi_body_too_large())?;
        let env = crate::runtime::wagi::environment(&head, body.len());
        // What the program writes is held too: at most what is left.
        let stdout = wasmtime_wasi::p2::pipe::MemoryOutputPipe::new(
            crate::runtime::wagi::MAX_OUTPUT_BYTES.min(input_room),
        );
        let mut store = self.store_with(ctx.cgi(&env, body.into(), stdout.clone()));
        let run = async {
            let program = command.instantiate_async(&mut store).await?;
            program.wasi_cli_run().call_run(&mut store).await
        };
        let outcome = tokio::time::timeout(self.limits.timeout, run).await;
        match outcome {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(()))) => {
                return Ok(self.wagi_failed("the program exited with an error".into()))
            }
            Ok(Err(error)) => match error.downcast_ref::<wasmtime_wasi::I32Exit>() {
                Some(wasmtime_wasi::I32Exit(0)) => {}
                Some(wasmtime_wasi::I32Exit(code)) => {
                    return Ok(self.wagi_failed(format!("the program exited with status {code}")))
                }
                None => {
                    let breached = store.data().limits.breached_at;
                    return match self.describe(CallFailure::Trap(error, breached)) {
                        timeout if timeout.kind == ErrorKind::Timeout => Err(timeout),
                        other => Ok(self.wagi_failed(other.message)),
                    };
                }
            },
            Err(_elapsed) => {
                self.counters.failed.fetch_add(1, Ordering::Relaxed);
                return Err(self.describe(CallFailure::Deadline));
            }
        }
        drop(store);
        let output = stdout.contents();
        if output.len() >= crate::runtime::wagi::MAX_OUTPUT_BYTES.min(input_room) {
            return Ok(self.wagi_failed(format!(
                "the program wrote more than {} bytes (at most {} MiB, and within its memory limit with the request)",
                output.len(),
                crate::runtime::wagi::MAX_OUTPUT_BYTES >> 20
            )));
        }
        match crate::runtime::wagi::response(output) {
            Ok(response) => Ok(response.map(lattice_interfaces::http::wire::full)),
            Err(bad) => Ok(self.wagi_failed(bad.to_string())),
        }
    }

    /// A WAGI request body larger than the instance's memory limit.
    fn wagi_body_too_large(&self) -> InvocationError {
        self.error(
            ErrorKind::BadRequest,
            format_args!(
                "the request body does not fit in its memory limit ({} MiB)",
                self.limits.memory_limit >> 20
            ),
        )
    }

    /// The 502 of a WAGI program that gave no response, counted and logged.
    fn wagi_failed(&self, reason: String) -> http::Response<HttpBody> {
        self.counters.failed.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(actor = %self.id, %reason, "WAGI program failed");
        let mut response = http::Response::new(lattice_interfaces::http::wire::full(format!(
            "actor \"{}\": {reason}\n",
            self.id
        )));
        *response.status_mut() = http::StatusCode::BAD_GATEWAY;
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/plain"),
        );
        response
    }
}
