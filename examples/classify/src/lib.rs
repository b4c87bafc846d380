//! The classify actor: scores four numbers with the model the host loaded
//! for it under the name `classifier` (`wasi:nn` `load-by-name`), and
//! answers the best class.
//!
//! - `GET /?x=0.9,0.1,0.2,0`: `class 0 (scores 0.90 0.10 0.20)`.
//! - Anything but four numbers: 400, saying so.
//! - A model that is missing or fails: 500 with wasi:nn's reason.
//!
//! The model (`model.onnx`, made by `make_model.py`) scores class k with
//! the k-th number, so the answers are easy to check by eye.

use ::wasi::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

mod bindings {
    wit_bindgen::generate!({
        world: "ml",
        path: "wit",
    });
}

use bindings::wasi::nn::graph;
use bindings::wasi::nn::tensor::{Tensor, TensorType};

/// The model's name in the actor's manifest (`models = { classifier = … }`).
const MODEL: &str = "classifier";

/// Numbers the model takes.
const FEATURES: usize = 4;

struct Classify;

::wasi::http::proxy::export!(Classify);

impl ::wasi::exports::http::incoming_handler::Guest for Classify {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let (status, body) = match features(&path) {
            Err(reason) => (400, reason),
            Ok(features) => match classify(&features) {
                Ok(scores) => (200, answer(&scores)),
                Err(reason) => (500, reason),
            },
        };
        respond(response_out, status, &body);
    }
}

/// The four numbers of `?x=a,b,c,d`.
fn features(path: &str) -> Result<Vec<f32>, String> {
    let query = path.split_once('?').map(|(_, q)| q).unwrap_or_default();
    let numbers = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("x="))
        .ok_or("give four numbers: ?x=0.9,0.1,0.2,0\n")?;
    let parsed: Result<Vec<f32>, _> = numbers.split(',').map(str::parse).collect();
    match parsed {
        Ok(values) if values.len() == FEATURES && values.iter().all(|v| v.is_finite()) => {
            Ok(values)
        }
        _ => Err(format!("x must be {FEATURES} numbers, not {numbers:?}\n")),
    }
}

/// The model's scores for `features`.
fn classify(features: &[f32]) -> Result<Vec<f32>, String> {
    let failed = |what: &str, e: bindings::wasi::nn::errors::Error| {
        format!("{what}: {:?}: {}\n", e.code(), e.data())
    };
    let model = graph::load_by_name(MODEL).map_err(|e| failed("the model", e))?;
    let context = model
        .init_execution_context()
        .map_err(|e| failed("an execution context", e))?;
    let data: Vec<u8> = features.iter().flat_map(|f| f.to_le_bytes()).collect();
    let input = Tensor::new(&[1, FEATURES as u32], TensorType::Fp32, &data);
    let outputs = context
        .compute(vec![("features".to_string(), input)])
        .map_err(|e| failed("inference", e))?;
    let (_, scores) = outputs
        .into_iter()
        .next()
        .ok_or("the model gave no output\n")?;
    Ok(scores
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

/// `class K (scores …)` for the best of `scores`.
fn answer(scores: &[f32]) -> String {
    let best = scores
        .iter()
        .enumerate()
        .fold(
            (0, f32::MIN),
            |best, (k, s)| if *s > best.1 { (k, *s) } else { best },
        )
        .0;
    let shown: Vec<String> = scores.iter().map(|s| format!("{s:.2}")).collect();
    format!("class {best} (scores {})\n", shown.join(" "))
}

fn respond(out: ResponseOutparam, status: u16, body: &str) {
    let response = OutgoingResponse::new(Fields::new());
    let _ = response.set_status_code(status);
    let Ok(outgoing) = response.body() else {
        return;
    };
    ResponseOutparam::set(out, Ok(response));
    if let Ok(stream) = outgoing.write() {
        let _ = stream.blocking_write_and_flush(body.as_bytes());
    }
    let _ = OutgoingBody::finish(outgoing, None);
}
