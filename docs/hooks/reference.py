"""MkDocs hook: the reference pages are written at build time from the code, so they cannot drift.

`reference/params.md` comes from the pydantic schema of params.yaml (`prodcat.core.params.Params`):
each section's docstring, each key's type, default, bounds and the comment beside it in the source.
`reference/cli.md` comes from the `prodcat` command (`prodcat.cli:app`, typer) walked as click
commands: each command's help, usage and options with their defaults. If the command does not
import, the page says so and the build logs an error, which fails `mkdocs build --strict` (CI).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import io
import json
import logging
import textwrap
import tokenize
import types
import typing
from typing import Any

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

log = logging.getLogger("mkdocs.hooks.reference")

CLI_APP = "prodcat.cli:app"
PARAMS_PAGE = "reference/params.md"
CLI_PAGE = "reference/cli.md"
GENERATED_NOTE = "<!-- Generated at build time by docs/hooks/reference.py: edit the code, not this page. -->\n\n"


# --- params.yaml -------------------------------------------------------------------------------------


def field_comments(model: type[BaseModel]) -> dict[str, str]:
    """The comment written beside each field in the model's source (and its bases'), by field name."""
    comments: dict[str, str] = {}
    for cls in reversed(model.__mro__):
        if not (isinstance(cls, type) and issubclass(cls, BaseModel)) or cls is BaseModel:
            continue
        try:
            source = textwrap.dedent(inspect.getsource(cls))
        except (OSError, TypeError):
            continue
        by_line = {
            token.start[0]: token.string.lstrip("#").strip()
            for token in tokenize.generate_tokens(io.StringIO(source).readline)
            if token.type == tokenize.COMMENT
        }
        body = ast.parse(source).body[0]
        for node in getattr(body, "body", []):
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.end_lineno in by_line:
                comments[node.target.id] = by_line[node.end_lineno]
    return comments


def type_name(annotation: Any) -> str:
    """A field's type as YAML sees it: `int | null`, a Literal as its values (`plain | json_list`)."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is type(None):
        return "null"
    if origin is typing.Literal:
        return " | ".join(str(value) for value in args)
    if origin is typing.Annotated:
        return type_name(args[0])
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(arg) for arg in args)
    if origin is not None:
        name = {list: "list", tuple: "list", dict: "mapping"}.get(origin, getattr(origin, "__name__", str(origin)))
        inner = ", ".join(type_name(arg) for arg in args if arg is not Ellipsis)
        return f"{name}[{inner}]" if inner else name
    return getattr(annotation, "__name__", str(annotation))


BOUNDS = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<"}


def bounds(field: FieldInfo) -> str:
    """The field's numeric bounds and minimum length, as `≥ 1, < 0.5`."""
    parts = []
    for item in field.metadata:
        for attribute, sign in BOUNDS.items():
            if isinstance(item, annotated_types.BaseMetadata) and hasattr(item, attribute):
                parts.append(f"{sign} {getattr(item, attribute)}")
        if isinstance(item, annotated_types.MinLen):
            parts.append(f"at least {item.min_length} item(s)")
    return ", ".join(parts)


def default_text(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    default = field.default if field.default is not PydanticUndefined else field.default_factory()  # type: ignore[misc]
    if isinstance(default, BaseModel):
        return "(section)"
    return f"`{json.dumps(list(default) if isinstance(default, tuple) else default)}`"


def prose(text: str) -> str:
    """Help text as Markdown: `<` and `>` escaped outside code spans, so `<output>.report.json` is text, not an HTML tag."""
    parts = text.split("`")
    return "`".join(
        part if inside else part.replace("<", "&lt;").replace(">", "&gt;")
        for part, inside in zip(parts, [False, True] * len(parts), strict=False)
    )


def cell(text: str) -> str:
    """Text for a table cell: one line of prose, pipes escaped outside code spans (Python-Markdown keeps those inside)."""
    parts = prose(text.replace("\n", " ")).split("`")
    return "`".join(part if inside else part.replace("|", "\\|") for part, inside in zip(parts, [False, True] * len(parts), strict=False))


def section_markdown(name: str, model: type[BaseModel], derived_seeds: tuple[str, ...] = ()) -> str:
    doc = inspect.getdoc(model) or ""
    inherited = inspect.getdoc(BaseModel)
    lines = [f"## `{name}`", ""]
    if doc and doc != inherited:
        lines += [doc, ""]
    comments = field_comments(model)
    lines += ["| key | type | default | bounds | what it does |", "|---|---|---|---|---|"]
    for key, field in model.model_fields.items():
        if key == "seed" and name in derived_seeds:
            continue  # filled in from base.seed at load: not a key to set
        what = field.description or comments.get(key, "")
        row = [f"`{name}.{key}`", f"`{type_name(field.annotation)}`", default_text(field), bounds(field), what]
        lines.append("| " + " | ".join(cell(part) for part in row) + " |")
    return "\n".join(lines) + "\n"


def params_markdown(root: type[BaseModel], derived_seeds: tuple[str, ...] = ()) -> str:
    """The whole params.yaml reference: top-level keys, then one table per section, in schema order."""
    top_level = []
    sections = []
    for name, field in root.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            sections.append(section_markdown(name, annotation, derived_seeds))
        else:
            row = [f"`{name}`", f"`{type_name(annotation)}`", default_text(field), bounds(field), field.description or ""]
            top_level.append("| " + " | ".join(cell(part) for part in row) + " |")
    intro = (
        "# params.yaml\n\n" + GENERATED_NOTE + "Every setting of the pipeline lives in `params.yaml`, validated when a stage loads it "
        "(`prodcat/core/params.py`): an unknown key, a wrong type or a value out of bounds stops the stage "
        "with the key's dotted path. Change keys for one run with `dvc exp run -S key=value`, or apply a "
        "catalog profile with `prodcat profile`.\n\n"
        "| key | type | default | bounds | what it does |\n|---|---|---|---|---|\n"
    )
    return intro + "\n".join(top_level) + "\n\n" + "\n".join(sections)


# --- the prodcat command -----------------------------------------------------------------------------
# Typer builds click-style commands (its own copy of click since typer 0.20), so these read them by duck typing.


def is_argument(param: Any) -> bool:
    return getattr(param, "param_type_name", "") == "argument"


def option_names(param: Any) -> str:
    if is_argument(param):
        return f"`{(param.name or '').upper()}`"
    names = ", ".join(f"`{opt}`" for opt in param.opts)
    if param.secondary_opts:
        names += " / " + ", ".join(f"`{opt}`" for opt in param.secondary_opts)
    return names


def param_type(param: Any, ctx: Any) -> str:
    click_type = getattr(param, "type", None)
    if getattr(click_type, "name", None):
        return click_type.name
    display = getattr(param, "display_type", None)
    return display(ctx).strip("<>") if callable(display) else ""


def param_default(param: Any) -> str:
    if param.required:
        return "required"
    default = param.default
    if default is None or callable(default) or default == () or default == []:
        return ""
    if getattr(param, "is_flag", False) and param.secondary_opts:
        return f"`{(param.opts if default else param.secondary_opts)[0]}`"
    return f"`{default}`"


def command_markdown(command: Any, path: list[str], parent: Any = None) -> list[str]:
    ctx = command.context_class(command, info_name=path[-1], parent=parent)
    lines = [f"{'#' * min(len(path) + 1, 4)} `{' '.join(path)}`", ""]
    if command.help:
        lines += [prose(inspect.cleandoc(command.help)), ""]
    lines += ["```", ctx.get_usage().removeprefix("Usage: ").strip(), "```", ""]
    params = [param for param in command.get_params(ctx) if not getattr(param, "hidden", False) and param.name != "help"]
    if params:
        lines += ["| option | type | default | what it does |", "|---|---|---|---|"]
        for param in params:
            row = [option_names(param), param_type(param, ctx), param_default(param), getattr(param, "help", None) or ""]
            lines.append("| " + " | ".join(cell(str(part)) for part in row) + " |")
        lines.append("")
    if command.epilog:
        lines += [prose(inspect.cleandoc(command.epilog)), ""]
    if hasattr(command, "list_commands"):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                lines += command_markdown(sub, [*path, name], ctx)
    return lines


def cli_markdown(command: Any, prog: str = "prodcat") -> str:
    """The command reference: the root's help, usage and options, then each subcommand, depth first."""
    body = command_markdown(command, [prog])
    return "# Command line\n\n" + GENERATED_NOTE + "\n".join(body[2:]) + "\n"


def load_cli(target: str = CLI_APP) -> Any:
    """The click-style command behind `module:attribute`: a typer app, or a command already."""
    module_name, attribute = target.split(":")
    app = getattr(importlib.import_module(module_name), attribute)
    if hasattr(app, "context_class"):
        return app
    import typer.main

    return typer.main.get_command(app)


def cli_page() -> str:
    try:
        command = load_cli(CLI_APP)
    except Exception as error:  # any import failure is reported, and fails the strict build
        log.error("the CLI reference could not import %s: %s: %s", CLI_APP, type(error).__name__, error)
        return f"# Command line\n\n!!! failure\n    `{CLI_APP}` did not import: `{type(error).__name__}: {error}`.\n"
    return cli_markdown(command)


# --- MkDocs events -----------------------------------------------------------------------------------


def on_files(files: Any, config: Any) -> Any:
    """Add the generated reference pages to the site's files, before the nav is built from them."""
    from mkdocs.structure.files import File

    from prodcat.core.params import SEEDED, Params

    files.append(File.generated(config, PARAMS_PAGE, content=params_markdown(Params, SEEDED)))
    files.append(File.generated(config, CLI_PAGE, content=cli_page()))
    return files
