//! Calls from the command line (`lattice-ctl call`): a function named
//! `ns:pkg/iface.function`, its arguments read from the WebAssembly Value
//! Encoding (WAVE) against the types the actor exports, its results written
//! back as WAVE. Every refusal is one line naming the function, the
//! argument and the type it wanted.

use wasmtime::component::types::{ComponentFunc, ComponentItem};
use wasmtime::component::{Component, Val};
use wasmtime::Engine;

/// A call read from text: the export (as the component names it, version
/// included), the function, and its arguments.
#[derive(Debug)]
pub(crate) struct ParsedCall {
    /// The interface export, as the component names it.
    pub export: String,
    /// The interface without its version, as calls name it.
    pub interface: String,
    /// The function.
    pub function: String,
    /// Its arguments.
    pub params: Vec<Val>,
}

/// Reads `function` (`ns:pkg/iface.function`, the interface with or without
/// its version) and `args` against what `component` exports.
pub(crate) fn parse(
    engine: &Engine,
    component: &Component,
    function: &str,
    args: &[String],
) -> Result<ParsedCall, String> {
    let Some((interface, name)) = function
        .rsplit_once('.')
        .filter(|(interface, name)| interface.contains('/') && !name.is_empty())
    else {
        return Err(format!(
            "{function:?}: name the function as ns:pkg/interface.function (e.g. example:uppercase/convert.upper)"
        ));
    };
    let wanted = super::calls::unversioned(interface);
    let ty = component.component_type();
    let Some((export, instance)) = ty.exports(engine).find_map(|(export, item)| match item.ty {
        ComponentItem::ComponentInstance(instance)
            if export == interface || super::calls::unversioned(export) == wanted =>
        {
            Some((export.to_string(), instance))
        }
        _ => None,
    }) else {
        return Err(format!("does not export {interface}"));
    };
    let func: ComponentFunc = match instance.get_export(engine, name).map(|e| e.ty) {
        Some(ComponentItem::ComponentFunc(func)) => func,
        _ => return Err(format!("has no function {name} in {export}")),
    };
    let signature = signature(&func);
    if func.params().len() != args.len() {
        return Err(format!(
            "{name} takes {} argument(s) ({signature}); {} given",
            func.params().len(),
            args.len()
        ));
    }
    let params = func
        .params()
        .zip(args)
        .enumerate()
        .map(|(index, ((param, ty), text))| {
            Val::from_wave(&ty, text).map_err(|e| {
                format!(
                    "argument {} ({param}: {}) of {name}: {}: {}",
                    index + 1,
                    type_name(&ty),
                    lattice_interfaces::shown(text),
                    one_line(&e.to_string())
                )
            })
        })
        .collect::<Result<Vec<Val>, String>>()?;
    Ok(ParsedCall {
        export,
        interface: wanted.to_string(),
        function: name.to_string(),
        params,
    })
}

/// Each result as WAVE.
pub(crate) fn show(results: &[Val]) -> Result<Vec<String>, String> {
    results
        .iter()
        .map(|value| {
            value
                .to_wave()
                .map_err(|e| format!("a result cannot be written as WAVE: {e}"))
        })
        .collect()
}

/// `(name: type, ...)` of `func`, for messages.
fn signature(func: &ComponentFunc) -> String {
    func.params()
        .map(|(name, ty)| format!("{name}: {}", type_name(&ty)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A type's WIT-like name, for messages: `string`, `u32`, `record`, …
fn type_name(ty: &wasmtime::component::Type) -> String {
    use wasmtime::component::Type;
    match ty {
        Type::Bool => "bool".into(),
        Type::S8 => "s8".into(),
        Type::U8 => "u8".into(),
        Type::S16 => "s16".into(),
        Type::U16 => "u16".into(),
        Type::S32 => "s32".into(),
        Type::U32 => "u32".into(),
        Type::S64 => "s64".into(),
        Type::U64 => "u64".into(),
        Type::Float32 => "f32".into(),
        Type::Float64 => "f64".into(),
        Type::Char => "char".into(),
        Type::String => "string".into(),
        Type::List(list) => format!("list<{}>", type_name(&list.ty())),
        Type::Record(_) => "record".into(),
        Type::Tuple(_) => "tuple".into(),
        Type::Variant(_) => "variant".into(),
        Type::Enum(_) => "enum".into(),
        Type::Option(option) => format!("option<{}>", type_name(&option.ty())),
        Type::Result(_) => "result".into(),
        Type::Flags(_) => "flags".into(),
        _ => "resource".into(),
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
