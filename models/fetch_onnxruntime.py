#!/usr/bin/env python3
"""Puts the ONNX Runtime shared library where the service looks for it.

usage: fetch_onnxruntime.py VERSION DEST_DIR

The library is the one inside the `onnxruntime` wheel on PyPI (a package
registry, reachable behind the usual firewalls), fetched with pip and
unpacked as DEST_DIR/libonnxruntime.so. Nothing is downloaded at build or
run time; `ort` loads this file at start (load-dynamic).
"""
import pathlib, shutil, subprocess, sys, tempfile, zipfile


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    version, dest = sys.argv[1], pathlib.Path(sys.argv[2])
    target = dest / "libonnxruntime.so"
    stamp = dest / "VERSION"
    if target.exists() and stamp.exists() and stamp.read_text().strip() == version:
        return
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                        "--only-binary=:all:", f"onnxruntime=={version}", "-d", tmp], check=True)
        wheels = list(pathlib.Path(tmp).glob("onnxruntime-*.whl"))
        if len(wheels) != 1:
            sys.exit(f"expected one onnxruntime wheel, found {wheels}")
        with zipfile.ZipFile(wheels[0]) as wheel:
            names = [n for n in wheel.namelist()
                     if n.startswith("onnxruntime/capi/libonnxruntime.so.")]
            if len(names) != 1:
                sys.exit(f"no libonnxruntime.so in {wheels[0].name}")
            dest.mkdir(parents=True, exist_ok=True)
            with wheel.open(names[0]) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out)
    stamp.write_text(version + "\n")
    print(f"ONNX Runtime {version} -> {target}")


if __name__ == "__main__":
    main()
