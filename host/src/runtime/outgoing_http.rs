//! Outgoing HTTP from actors (`wasi:http/outgoing-handler`): a capability
//! like any other. An actor reaches it only through a link to an
//! `http-client` provider; without one every request is denied, and with
//! one only to where the link's `allowed_hosts` let it (checked here before
//! anything leaves when the provider is in this process, by the provider
//! when it is elsewhere). With the provider in this process the request
//! streams straight out with the link's timeouts; with the provider elsewhere (a provider process, another
//! host) it crosses the lattice whole and the answer comes back whole.

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use lattice_interfaces::http::wire::{HttpMessage, HttpRequestHead};
use lattice_interfaces::http_client::{OutgoingReply, OutgoingRequest};
use lattice_interfaces::{standard, ComponentId, ErrorKind};
use wasmtime_wasi_http::{Error, WasiBody, WasiHttpHooks};

use super::calls::{ActorCalls, OutgoingHttp};

/// The hooks of one store: every request is checked against the actor's
/// link before anything is sent.
pub struct LinkedOutgoingHttp {
    actor: ComponentId,
    calls: Option<Arc<dyn ActorCalls>>,
    /// The link names the instance chose.
    link_names: super::calls::LinkNames,
}

impl LinkedOutgoingHttp {
    pub(crate) fn new(
        actor: ComponentId,
        calls: Option<Arc<dyn ActorCalls>>,
        link_names: super::calls::LinkNames,
    ) -> Self {
        Self {
            actor,
            calls,
            link_names,
        }
    }
}

/// What the hook returns: the response and the connection's I/O.
type IoFuture = Box<dyn Future<Output = Result<(), Error>> + Send>;
type Sent = Result<(http::Response<WasiBody>, IoFuture), Error>;

impl WasiHttpHooks for LinkedOutgoingHttp {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        _options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: IoFuture,
    ) -> Box<dyn Future<Output = Sent> + Send> {
        let route = lattice_contract::client_of::<OutgoingHttp>(
            self.calls.as_ref(),
            &self.actor,
            &self.link_names,
            standard::HTTP_OUTGOING_HANDLER,
        );
        let actor = self.actor.clone();
        Box::new(async move {
            match route.await {
                Ok(OutgoingHttp::Direct(options, policy)) => {
                    match lattice_provider_http_client::send_streaming(
                        request,
                        options,
                        &policy.tls,
                        &policy.egress,
                    )
                    .await
                    {
                        Ok((response, io)) => Ok((response, io)),
                        Err(lattice_provider_http_client::SendError::Denied(denied)) => {
                            (policy.report)(&denied);
                            Err(Error::HttpRequestDenied)
                        }
                        Err(lattice_provider_http_client::SendError::Failed(error)) => Err(error),
                    }
                }
                Ok(OutgoingHttp::Through(send)) => through(&actor, send, request).await,
                Err(error) => {
                    tracing::warn!(%actor, %error, "outgoing HTTP refused");
                    Err(Error::HttpRequestDenied)
                }
            }
        })
    }
}

/// Sends `request` whole through a provider elsewhere and makes its answer
/// the actor's response.
async fn through(
    actor: &ComponentId,
    send: super::calls::OutgoingSender,
    request: http::Request<WasiBody>,
) -> Sent {
    let outgoing = whole(request).await?;
    match send(outgoing).await {
        Ok(OutgoingReply::Response(message)) => {
            Ok((response(message)?, Box::new(async { Ok(()) }) as IoFuture))
        }
        Ok(OutgoingReply::Failed { kind, message }) => {
            Err(lattice_provider_http_client::wasi_error(kind, message))
        }
        Err(error) => {
            tracing::warn!(%actor, %error, "outgoing HTTP through the lattice failed");
            Err(match error.kind {
                ErrorKind::Timeout => Error::ConnectionReadTimeout,
                _ => Error::InternalError(Some(error.message)),
            })
        }
    }
}

/// The request as it crosses the lattice, its body read whole (bounded).
async fn whole(request: http::Request<WasiBody>) -> Result<OutgoingRequest, Error> {
    let (parts, mut body) = request.into_parts();
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            if bytes.len().saturating_add(data.len())
                > lattice_interfaces::protocol::rpc::MAX_PAYLOAD_BYTES
            {
                return Err(Error::HttpRequestBodySize(None));
            }
            bytes.extend_from_slice(&data);
        }
    }
    let authority = parts
        .uri
        .authority()
        .ok_or(Error::HttpRequestUriInvalid)?
        .to_string();
    Ok(OutgoingRequest {
        scheme: parts.uri.scheme_str().unwrap_or("http").to_string(),
        message: HttpMessage {
            head: HttpRequestHead {
                method: parts.method.to_string(),
                path_and_query: parts
                    .uri
                    .path_and_query()
                    .map_or("/", |p| p.as_str())
                    .to_string(),
                authority,
                headers: lattice_interfaces::http::wire::header_pairs(&parts.headers),
            },
            body: bytes,
        },
    })
}

/// The actor's response from one that crossed the lattice.
fn response(
    message: HttpMessage<lattice_interfaces::http::wire::HttpResponseHead>,
) -> Result<http::Response<WasiBody>, Error> {
    let mut builder = http::Response::builder().status(message.head.status);
    for (name, value) in &message.head.headers {
        builder = builder.header(name.as_str(), value.as_slice());
    }
    builder
        .body(
            Full::new(Bytes::from(message.body))
                .map_err(|never| match never {})
                .boxed_unsync(),
        )
        .map_err(|e| Error::InternalError(Some(format!("malformed response: {e}"))))
}
