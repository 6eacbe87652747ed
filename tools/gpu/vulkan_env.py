"""The payload on the GPU machine: the self-contained wfvae build, and a Vulkan loader where the system has none.

That machine has a GPU driver (whose Vulkan ICD is a JSON manifest plus the driver's library) but maybe no
Vulkan loader (libvulkan.so.1). The payload carries Debian's loader and the GL-dispatch libraries NVIDIA's ICD
links against, as .deb files; they are unpacked into the work folder (no root needed) and found through
LD_LIBRARY_PATH. Where the driver's ICD manifest is outside the loader's search path (NVIDIA containers keep it
under /usr/local/nvidia), VK_DRIVER_FILES points at it.
"""
import glob
import io
import os
import subprocess
import tarfile

ICD_DIRS = ["/etc/vulkan/icd.d", "/usr/share/vulkan/icd.d", "/usr/local/share/vulkan/icd.d",
            os.path.expanduser("~/.local/share/vulkan/icd.d")]
# Where NVIDIA's container toolkit and driver images put the ICD manifest and the driver libraries.
EXTRA_ICDS = ["/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json", "/usr/local/nvidia/etc/vulkan/icd.d/nvidia_icd.json"]
EXTRA_LIB_DIRS = ["/usr/local/nvidia/lib64", "/usr/local/nvidia/lib"]
LIB_SUBDIRS = ["usr/lib/x86_64-linux-gnu", "lib/x86_64-linux-gnu", "usr/lib64", "usr/lib"]


def safe_extract(archive, dest):
    """Extracts a tar archive, refusing members that would land outside dest (the data filter where Python has it)."""
    if hasattr(tarfile, "data_filter"):
        archive.extractall(dest, filter="data")
        return
    root = os.path.realpath(dest)
    for m in archive.getmembers():
        target = os.path.realpath(os.path.join(dest, m.name))
        if target != root and not target.startswith(root + os.sep):
            raise ValueError(f"archive member {m.name} points outside {dest}")
    archive.extractall(dest)


def extract_wfvae(tarball, dest):
    """Unpacks the self-contained build; returns the path of the wfvae executable in it."""
    with tarfile.open(tarball, "r:*") as t:
        safe_extract(t, dest)
    found = [p for p in glob.glob(os.path.join(dest, "**", "wfvae"), recursive=True) if os.path.isfile(p) and os.access(p, os.X_OK)]
    if not found:
        raise FileNotFoundError(f"{tarball} holds no executable named wfvae")
    return found[0]


def deb_data(path):
    """The data.tar member of a .deb (an ar archive): returned as an open tarfile."""
    with open(path, "rb") as f:
        blob = f.read()
    if not blob.startswith(b"!<arch>\n"):
        raise ValueError(f"{path} is not a Debian package (no ar header)")
    pos = 8
    while pos + 60 <= len(blob):
        name = blob[pos:pos + 16].decode().strip().rstrip("/")
        size = int(blob[pos + 48:pos + 58].decode().strip())
        if name.startswith("data.tar"):
            return tarfile.open(fileobj=io.BytesIO(blob[pos + 60:pos + 60 + size]), mode="r:*")
        pos += 60 + size + (size & 1)
    raise ValueError(f"{path} has no data.tar member")


def unpack_debs(debs, dest):
    for deb in debs:
        with deb_data(deb) as data:
            safe_extract(data, dest)
    return [d for d in (os.path.join(dest, s) for s in LIB_SUBDIRS) if glob.glob(os.path.join(d, "libvulkan.so.1*"))]


def system_loader():
    """Path of the system's libvulkan.so.1, or None."""
    try:
        out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            if "libvulkan.so.1" in line and "=>" in line:
                return line.split("=>")[-1].strip()
    except (OSError, subprocess.TimeoutExpired):
        pass
    for d in ["/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib", "/usr/local/lib"]:
        if os.path.exists(os.path.join(d, "libvulkan.so.1")):
            return os.path.join(d, "libvulkan.so.1")
    return None


def icd_manifests(env):
    """The ICD manifests the loader will read: VK_DRIVER_FILES / VK_ICD_FILENAMES, else the standard folders."""
    chosen = env.get("VK_DRIVER_FILES") or env.get("VK_ICD_FILENAMES")
    if chosen:
        return [p for p in chosen.split(os.pathsep) if p]
    return sorted(p for d in ICD_DIRS for p in glob.glob(os.path.join(d, "*.json")))


def prepend(env, name, paths):
    old = env.get(name)
    env[name] = os.pathsep.join(list(paths) + ([old] if old else []))


def prepare(env, payload, work, loader, figures, wfvae=None):
    """Fills env (the environment of every wfvae process) and figures; returns the wfvae executable: the payload's,
    unpacked, unless `wfvae` names another build."""
    tarball = os.path.join(payload, "wfvae-linux-x64.tar.xz")
    figures["payload"] = payload
    extra_libs = [d for d in EXTRA_LIB_DIRS if os.path.isdir(d)]
    if extra_libs:
        prepend(env, "LD_LIBRARY_PATH", extra_libs)
    system = system_loader()
    debs = sorted(glob.glob(os.path.join(payload, "deb", "*.deb")))
    use_bundled = loader == "bundled" or (loader == "auto" and system is None)
    if use_bundled:
        if not debs:
            raise RuntimeError(f"no Vulkan loader on this system and no .deb files in {payload}/deb "
                               "(prepare the kit with 'build.ps1 gpu-kit' on a Debian/Ubuntu machine)")
        lib_dirs = unpack_debs(debs, os.path.join(work, "vulkan-root"))
        if not lib_dirs:
            raise RuntimeError(f"the packages in {payload}/deb hold no libvulkan.so.1")
        prepend(env, "LD_LIBRARY_PATH", lib_dirs)
        figures["loader"] = f"bundled: {', '.join(os.path.basename(d) for d in debs)} unpacked into {lib_dirs[0]}"
    else:
        figures["loader"] = f"system: {system}"
    if not icd_manifests(env):
        found = [p for p in EXTRA_ICDS if os.path.exists(p)]
        if found:
            env["VK_DRIVER_FILES"] = found[0]
            figures["vk_driver_files"] = found[0]
    figures["icd_manifests"] = icd_manifests(env)
    figures["ld_library_path"] = env.get("LD_LIBRARY_PATH", "")
    if wfvae:
        return wfvae
    if not os.path.exists(tarball):
        raise FileNotFoundError(f"{tarball} not found: prepare the kit with 'dotnet pwsh ./build.ps1 gpu-kit' first")
    return extract_wfvae(tarball, os.path.join(work, "wfvae"))


def install_into_root(payload):
    """The device notes' own recipe, for root on a machine where the unpacked loader was not enough: the packages
    unpacked into / and ldconfig run. Returns what was done."""
    debs = sorted(glob.glob(os.path.join(payload, "deb", "*.deb")))
    for deb in debs:
        subprocess.run(["dpkg", "-x", deb, "/"], check=True, timeout=60)
    subprocess.run(["ldconfig"], check=True, timeout=60)
    return f"unpacked {len(debs)} packages into / and ran ldconfig"
