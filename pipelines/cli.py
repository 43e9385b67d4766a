"""The ``creditdesk`` command line.

Commands live in ``pipelines/cmd_*.py``, one module per room, each with one module-level
``app = typer.Typer()`` joined here with ``add_typer`` (its commands appear at the top
level, e.g. ``creditdesk generate``; a room's sub-groups keep their names, e.g.
``creditdesk keys create``). Nothing imports this module but the console script, so no
room's CLI depends on another's. Heavy libraries are imported inside command bodies so
``--help`` stays fast.
Bad input of any kind (unknown option, bad value, bad file) exits 2 with one line on stderr.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import typer
from typer._click import exceptions as click_exceptions  # typer vendors click; its errors live here

import creditdesk
from creditdesk.errors import InputError
from pipelines import (
    cmd_book,
    cmd_demo,
    cmd_features,
    cmd_generate,
    cmd_ledger,
    cmd_models,
    cmd_monitoring,
    cmd_pricing,
    cmd_risk,
    cmd_serving,
)

app = typer.Typer(
    name="creditdesk",
    help="Credit scoring, pricing and margin-ledger decision service.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@app.callback()
def _root() -> None:
    """Credit scoring, pricing and margin-ledger decision service."""


for module in (
    cmd_demo,
    cmd_generate,
    cmd_features,
    cmd_models,
    cmd_pricing,
    cmd_serving,
    cmd_ledger,
    cmd_monitoring,
    cmd_risk,
):
    room_app = getattr(module, "app", None)
    if isinstance(room_app, typer.Typer):
        app.add_typer(room_app)
    else:  # a room still on ``register(app)`` until its owner converts it (issues 12, 17)
        module.register(app)
app.add_typer(cmd_book.app, name="book")


def fail(message: str) -> None:
    """Print one line on stderr and exit 2: the contract for bad input."""
    print(f"creditdesk: error: {' '.join(message.split())}", file=sys.stderr)
    raise SystemExit(2)


def main(argv: Sequence[str] | None = None) -> None:
    creditdesk.disable_telemetry()
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        result = app(args=args, prog_name="creditdesk", standalone_mode=False)
    except typer.Exit as exc:
        raise SystemExit(exc.exit_code) from None
    except typer.Abort:
        print("creditdesk: aborted", file=sys.stderr)
        raise SystemExit(130) from None
    except click_exceptions.NoArgsIsHelpError as exc:
        print(exc.format_message())
        raise SystemExit(0) from None
    except click_exceptions.ClickException as exc:  # unknown option, bad value, missing argument
        fail(exc.format_message())
    except InputError as exc:
        fail(exc.one_line())
    if isinstance(result, int) and result != 0:
        raise SystemExit(result)


if __name__ == "__main__":
    main()
