"""dist_info: a folder holding `<name>-<version>.dist-info`, generated from pyproject.toml.

A genrule cannot do this: its outputs must be named up front, and the
folder name holds the version, which is only known once the sources are read.
So this rule declares one output directory (named after the target) and lets
tools/bazel/gen_dist_info.py fill it. Put that directory on sys.path with a
py_library(data = [":<target>"], imports = ["<target>"]).
"""

def _dist_info_impl(ctx):
    out = ctx.actions.declare_directory(ctx.label.name)
    ctx.actions.run_shell(
        inputs = [ctx.file.pyproject, ctx.file.version_file, ctx.file._script],
        outputs = [out],
        # python3 from PATH (the activated venv); tomllib needs Python >= 3.11.
        command = 'python3 "$@"',
        arguments = [ctx.file._script.path, ctx.file.pyproject.path, ctx.file.version_file.path, out.path],
        use_default_shell_env = True,
        progress_message = "Generating dist-info for %s" % ctx.label,
    )
    return [DefaultInfo(files = depset([out]), runfiles = ctx.runfiles(files = [out]))]

dist_info = rule(
    implementation = _dist_info_impl,
    attrs = {
        "pyproject": attr.label(allow_single_file = [".toml"], mandatory = True),
        "version_file": attr.label(allow_single_file = [".py"], mandatory = True),
        "_script": attr.label(default = "//:tools/bazel/gen_dist_info.py", allow_single_file = True),
    },
)
