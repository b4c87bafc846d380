//! `wasi:nn` for actors (`wasi:nn@0.2.0-rc-2024-10-28`), on ONNX Runtime
//! through wasmtime-wasi-nn's ONNX backend.
//!
//! ONNX Runtime is a shared library loaded when the host starts
//! ([`load_onnx_runtime`], from `--onnxruntime PATH`, once per process),
//! so the host builds without it and a host without it runs every other
//! actor: one that imports `wasi:nn` is refused at load, saying how to
//! provide the library ([`refusal`]).
//!
//! Tensors are checked as the guest makes them, before the backend sees
//! them: fp32 only (what the ONNX backend computes with), data exactly
//! the size its dimensions say, at most [`MAX_TENSOR_BYTES`]. A tensor
//! that fails is a trap with one line, never a host panic.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use wasmtime::component::{Linker, Resource};
use wasmtime_wasi_nn::backend::onnx::OnnxBackend;
use wasmtime_wasi_nn::backend::BackendInner as _;
use wasmtime_wasi_nn::wit::{ExecutionTarget, TensorType, WasiNnCtx, WasiNnView};
use wasmtime_wasi_nn::{Backend, Graph, GraphRegistry, Registry, Tensor};

use super::ActorCtx;

/// The package an actor imports for inference.
pub(crate) const PACKAGE: &str = "wasi:nn";

/// The largest tensor an actor may make, in bytes (64 MiB: a batch of
/// large images; more is refused with a trap).
pub const MAX_TENSOR_BYTES: usize = 64 << 20;

/// The ONNX Runtime version the backend is built against: 1.22 or later.
pub const ONNX_RUNTIME_VERSION: &str = "1.22";

/// Whether ONNX Runtime was loaded: the library's path, or why not.
static ONNX_RUNTIME: OnceLock<Result<PathBuf, String>> = OnceLock::new();

/// Loads ONNX Runtime from `path`, once per process: later calls answer
/// what the first found (a process holds one ONNX Runtime). Never
/// panics: a missing or wrong library is an error saying which and why.
///
/// # Errors
///
/// The file missing, or the library refused by ONNX Runtime's own checks
/// (not ONNX Runtime, older than 1.22).
pub fn load_onnx_runtime(path: &Path) -> Result<PathBuf, String> {
    ONNX_RUNTIME
        .get_or_init(|| {
            let path = path.to_path_buf();
            if !path.is_file() {
                return Err(format!("ONNX Runtime {} is not a file", path.display()));
            }
            // ort reports a library it cannot use by panicking: caught
            // here, quietly, and said in one line.
            let hook = std::panic::take_hook();
            std::panic::set_hook(Box::new(|_| {}));
            let shown = path.display().to_string();
            let loaded = std::panic::catch_unwind(|| ort::init_from(shown).commit());
            std::panic::set_hook(hook);
            match loaded {
                Ok(Ok(_)) => Ok(path),
                Ok(Err(error)) => Err(format!("ONNX Runtime {}: {error}", path.display())),
                Err(panic) => {
                    let reason = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_string()))
                        .unwrap_or_else(|| "it cannot be loaded".into());
                    Err(format!(
                        "ONNX Runtime {} refused: {}",
                        path.display(),
                        reason.lines().next().unwrap_or_default()
                    ))
                }
            }
        })
        .clone()
}

/// Why an actor that `does` something needing `wasi:nn` ("imports
/// wasi:nn", "names models") cannot run on a host, when it cannot: the
/// host was not given ONNX Runtime (`loaded` false).
pub(crate) fn refusal(loaded: bool, does: &str) -> Option<String> {
    (!loaded).then(|| {
        format!(
            "it {does} and this host has no ONNX Runtime: start the host with --onnxruntime PATH (or LATTICE_ONNXRUNTIME, ORT_DYLIB_PATH) naming libonnxruntime.so {ONNX_RUNTIME_VERSION} or later, e.g. onnxruntime/capi/libonnxruntime.so.1.22.1 from `pip install onnxruntime==1.22.1`"
        )
    })
}

/// Whether `import` (`ns:pkg/iface@version`) is part of `wasi:nn`.
pub(crate) fn is_nn(import: &str) -> bool {
    import
        .strip_prefix(PACKAGE)
        .is_some_and(|rest| rest.starts_with('/'))
}

/// The models an actor loads by name (`models` in its spec), loaded.
#[derive(Clone, Default)]
pub struct Models(Arc<HashMap<String, Graph>>);

impl Models {
    /// Its models, by name.
    pub(crate) fn new(models: HashMap<String, Graph>) -> Self {
        Self(Arc::new(models))
    }

    /// Their names.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.0.keys().cloned().collect();
        names.sort();
        names
    }
}

/// What `load-by-name` finds: the actor's models, and nothing else.
struct ActorModels(Models);

impl GraphRegistry for ActorModels {
    fn get(&self, name: &str) -> Option<&Graph> {
        self.0 .0.get(name)
    }

    fn get_mut(&mut self, name: &str) -> Option<&mut Graph> {
        // Shared by every instance of the actor: never handed out mutably.
        let _ = name;
        None
    }
}

/// The models a host loaded, by digest: one graph for every actor that
/// names the same bytes.
#[derive(Default)]
pub(crate) struct ModelCache(Mutex<HashMap<String, Graph>>);

impl ModelCache {
    /// The graph of `bytes` (digest `digest`), loaded now unless it was
    /// already; `what` names it in errors.
    pub(crate) fn graph(&self, digest: &str, bytes: &[u8], what: &str) -> Result<Graph, String> {
        if let Some(graph) = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(digest)
        {
            return Ok(graph.clone());
        }
        let graph = OnnxBackend::default()
            .load(&[bytes], ExecutionTarget::Cpu)
            .map_err(|e| {
                // The backend's own words say little; its sources say why.
                let mut reason = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(cause) = source {
                    reason = format!("{reason}: {cause}");
                    source = cause.source();
                }
                format!(
                    "{what} is not a model ONNX Runtime can load: {}",
                    reason.replace('\n', " ")
                )
            })?;
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(digest.to_string(), graph.clone());
        Ok(graph)
    }
}

/// A store's `wasi:nn` state: the ONNX backend and the actor's models.
fn context(models: &Models) -> WasiNnCtx {
    WasiNnCtx::new(
        [Backend::from(OnnxBackend::default())],
        Registry::from(ActorModels(models.clone())),
    )
}

/// Links `wasi:nn` into `linker`, its tensor constructor checked.
pub(crate) fn add_to_linker(linker: &mut Linker<ActorCtx>) -> wasmtime::Result<()> {
    wasmtime_wasi_nn::wit::add_to_linker(linker, ActorCtx::nn)?;
    // The constructor again, checking before the backend can see it.
    linker.allow_shadowing(true);
    linker
        .instance("wasi:nn/tensor@0.2.0-rc-2024-10-28")?
        .func_wrap(
            "[constructor]tensor",
            |mut store: wasmtime::StoreContextMut<'_, ActorCtx>,
             (dimensions, ty, data): (Vec<u32>, TensorType, Vec<u8>)|
             -> wasmtime::Result<(Resource<Tensor>,)> {
                check_tensor(&dimensions, ty, data.len()).map_err(wasmtime::Error::msg)?;
                let tensor = Tensor {
                    dimensions,
                    ty,
                    data,
                };
                Ok((store.data_mut().table().push(tensor)?,))
            },
        )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// Whether a tensor of `ty` with `dimensions` and `bytes` of data may be
/// made; the error is one line.
fn check_tensor(dimensions: &[u32], ty: TensorType, bytes: usize) -> Result<(), String> {
    let kind = match ty {
        TensorType::Fp32 => "fp32",
        TensorType::Fp16 => "fp16",
        TensorType::Fp64 => "fp64",
        TensorType::Bf16 => "bf16",
        TensorType::U8 => "u8",
        TensorType::I32 => "i32",
        TensorType::I64 => "i64",
    };
    if kind != "fp32" {
        return Err(format!(
            "wasi:nn: a tensor of {kind} is not supported: the ONNX backend takes fp32 tensors"
        ));
    }
    let expected = dimensions
        .iter()
        .try_fold(4usize, |n, d| n.checked_mul(*d as usize))
        .filter(|n| *n <= MAX_TENSOR_BYTES);
    match expected {
        _ if bytes > MAX_TENSOR_BYTES => Err(format!(
            "wasi:nn: a tensor of {bytes} bytes is over the limit of {MAX_TENSOR_BYTES}"
        )),
        None => Err(format!(
            "wasi:nn: a tensor of dimensions {dimensions:?} is over the limit of {MAX_TENSOR_BYTES} bytes"
        )),
        Some(expected) if expected != bytes => Err(format!(
            "wasi:nn: a tensor of dimensions {dimensions:?} holds {expected} bytes of fp32, not {bytes}"
        )),
        Some(_) => Ok(()),
    }
}

/// A view of a store's `wasi:nn` state, made on its first use.
pub(crate) fn view<'a>(
    table: &'a mut wasmtime::component::ResourceTable,
    nn: &'a mut Option<WasiNnCtx>,
    models: &Models,
) -> WasiNnView<'a> {
    WasiNnView::new(table, nn.get_or_insert_with(|| context(models)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensors_are_fp32_of_the_size_their_dimensions_say_and_bounded() {
        assert!(check_tensor(&[1, 4], TensorType::Fp32, 16).is_ok());
        let cases = [
            (&[1u32, 4][..], TensorType::U8, 4, "u8 is not supported"),
            (
                &[1, 4],
                TensorType::Fp32,
                15,
                "holds 16 bytes of fp32, not 15",
            ),
            (
                &[1, 4],
                TensorType::Fp32,
                MAX_TENSOR_BYTES + 1,
                "over the limit",
            ),
            (
                &[u32::MAX, u32::MAX, u32::MAX],
                TensorType::Fp32,
                4,
                "over the limit",
            ),
            (
                &[65_536, 65_536],
                TensorType::Fp32,
                16,
                "is over the limit of 67108864 bytes",
            ),
        ];
        for (dimensions, ty, bytes, reason) in cases {
            let refused = check_tensor(dimensions, ty, bytes).unwrap_err();
            assert!(refused.contains(reason), "{refused}");
            assert_eq!(refused.lines().count(), 1);
        }
    }

    #[test]
    fn only_wasi_nn_imports_are_nn() {
        assert!(is_nn("wasi:nn/graph@0.2.0-rc-2024-10-28"));
        assert!(!is_nn("wasi:nnx/graph"));
        assert!(!is_nn("wasi:http/types"));
    }
}
