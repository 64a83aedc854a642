"""The ``sourcing-bot`` command: catalog and database chores now, the bot runners later.

Commands (``sourcing-bot --help`` lists them):
  db upgrade                        bring the schema up to date
  catalog import PATH [--partial]   import a catalog (folder, .tar.gz or .zip)
  catalog export PATH               write the catalog back out in the same format
  catalog stats                     counts by top category, city and badge
  catalog demo OUT [--offers N]     generate the deterministic demo catalog
  parse TEXT [--json]               what the query parser understands of TEXT
  parse --json --batch FILE         one query per line in, one JSON object per line out
  search TEXT [--json] [--limit N]  search the catalog as a buyer would
  search --json --batch FILE        one query per line in, one JSON result per line out
  demo                              set up the default store with the demo catalog, print stats
  run                               the bot on Telegram (long polling; needs BOT_TOKEN)
  chat [--lang en]                  the same bot in this terminal: no Telegram, no network
  start                             `run` when BOT_TOKEN is set (environment or .env), else `chat`
  factory link FACTORY_ID           a one-time deep link that binds a factory's Telegram chat
  workflows list                    the stored order workflows (name, version, steps)
  workflows load FILE...            store workflow definitions (JSON); a new workflow is data

Exit status: 0 on success, 1 when the input was refused (with the reasons on stderr),
2 on a usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncEngine

import nlu
from bot.settings import Settings, load_settings
from catalog_store import db
from catalog_store.catalog_format import BADGE_NAMES
from catalog_store.catalog_source import CatalogSourceError
from catalog_store.exporter import export_catalog
from catalog_store.importer import ImportResult, import_catalog, latest_import_id
from catalog_store.lexicon_source import ensure_catalog_lexicon
from catalog_store.search import SearchResult, SearchService
from catalog_store.stats import catalog_stats
from nlu import ParsedQuery, Parser

MAX_ERRORS_SHOWN = 50
DEMO_OFFERS = 10_000
DEMO_QUERIES = ("连衣群 一件带发 60元以内", "義烏 髮夾 超级工厂")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class _RichProgress:
    """A byte-based progress bar, shown only when stderr is a terminal."""

    def __init__(self, label: str) -> None:
        self._progress = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=err,
            transient=True,
        )
        self._label = label
        self._task: int | None = None

    def start(self, total_bytes: int) -> None:
        self._progress.start()
        self._task = self._progress.add_task(self._label, total=total_bytes)

    def advance(self, nbytes: int) -> None:
        if self._task is not None:
            self._progress.advance(self._task, nbytes)

    def stop(self) -> None:
        self._progress.stop()


def _print_import(result: ImportResult) -> None:
    f, o = result.factories, result.offers
    for error in result.errors[:MAX_ERRORS_SHOWN]:
        err.print(str(error), markup=False)
    hidden = len(result.errors) - MAX_ERRORS_SHOWN
    if hidden > 0 or result.rejected_lines > len(result.errors):
        err.print(f"… and more: {result.rejected_lines} rejected line(s) in all", markup=False)
    for label, t in (("factories:", f), ("offers:   ", o)):
        out.print(
            f"{label} {t.new} new, {t.changed} changed, {t.unchanged} unchanged, "
            f"{t.rejected} rejected",
            markup=False,
        )
    total = f.new + f.changed + f.unchanged + o.new + o.changed + o.unchanged
    rate = (o.new + o.changed + o.unchanged) / result.seconds if result.seconds else 0.0
    out.print(
        f"{total} records read in {result.seconds:.1f} s ({rate:,.0f} offers/s)", markup=False
    )
    if result.committed and result.rejected_lines:
        out.print(
            f"imported the valid lines; {result.rejected_lines} rejected line(s) reported in "
            f"{result.report_path}",
            markup=False,
        )
    elif not result.committed:
        err.print(
            f"nothing imported: {result.rejected_lines} line(s) rejected, the database is "
            "unchanged (fix them, or use --partial to import the valid lines)",
            markup=False,
        )


async def cmd_import(settings: Settings, engine: AsyncEngine, args: argparse.Namespace) -> int:
    await db.migrate(engine)
    report = args.report
    if args.partial and report is None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        report = settings.data_dir / "import-reports" / f"rejected-{stamp}.jsonl"
    # titles are segmented at import with the lexicon of the catalog already in the store
    await ensure_catalog_lexicon(engine, settings.lexicon_path)
    nlu.configure(settings.lexicon_path)
    progress = _RichProgress("importing") if err.is_terminal and not args.quiet else None
    try:
        result = await import_catalog(
            engine,
            Path(args.path),
            partial=args.partial,
            report_path=report,
            progress=progress,
            workers=getattr(args, "workers", None),
        )
    except CatalogSourceError as exc:
        err.print(f"cannot import: {exc}", markup=False)
        return 1
    except asyncio.CancelledError:  # Ctrl-C: the import's one transaction was rolled back
        if progress is not None:
            progress.stop()
            progress = None
        err.print("interrupted: nothing imported, the database is unchanged", markup=False)
        raise
    finally:
        if progress is not None:
            progress.stop()
    _print_import(result)
    if result.committed:
        await ensure_catalog_lexicon(engine, settings.lexicon_path)
    return 0 if result.committed else 1


async def cmd_export(settings: Settings, engine: AsyncEngine, args: argparse.Namespace) -> int:
    await db.migrate(engine)
    n_factories, n_offers = await export_catalog(engine, Path(args.path))
    out.print(f"wrote {n_factories} factories and {n_offers} offers to {args.path}", markup=False)
    return 0


async def cmd_stats(settings: Settings, engine: AsyncEngine, args: argparse.Namespace) -> int:
    await db.migrate(engine)
    stats = await catalog_stats(engine)
    out.print(
        f"{stats.factories} factories, {stats.offers} offers ({stats.active_offers} on sale), "
        f"{len(stats.by_top_category)} top categories, {stats.leaf_categories} leaf categories",
        markup=False,
    )
    if not stats.offers:
        out.print("the catalog is empty: import one with `sourcing-bot catalog import PATH`")
        return 0
    top = Table("top category", "offers", title="Offers by top category")
    for name, n in stats.by_top_category:
        top.add_row(name, str(n))
    limit = None if args.all else 15
    city = Table("city", "factories", "offers", title="By city")
    for name, nf, no in stats.by_city[:limit]:
        city.add_row(name, str(nf), str(no))
    if limit is not None and len(stats.by_city) > limit:
        city.caption = f"{len(stats.by_city) - limit} more cities (--all lists them)"
    badge = Table("badge", "factories", "offers", title="By badge")
    for name, nf, no in stats.by_badge:
        badge.add_row(name, str(nf), str(no))
    out.print(top, city, badge)
    return 0


async def load_parser(settings: Settings, engine: AsyncEngine) -> Parser:
    """The parser with the lexicon of the catalog in the store (rebuilt if the catalog changed)."""
    from bot.app import load_parser as load

    await db.migrate(engine)
    return await load(engine, settings.lexicon_path)


def _describe(query: ParsedQuery) -> str:
    data = query.as_json()
    shown = {k: v for k, v in data.items() if v not in (None, [], False) and k != "text"}
    return "\n".join(f"  {k:14s} {v}" for k, v in shown.items())


async def cmd_parse(settings: Settings, engine: AsyncEngine, args: argparse.Namespace) -> int:
    if (args.text is None) == (args.batch is None):
        err.print("give either TEXT or --batch FILE", markup=False)
        return 2
    parser = await load_parser(settings, engine)
    if args.batch is None:
        query = parser.parse(args.text)
        if args.json:
            sys.stdout.write(json.dumps(query.as_json(), ensure_ascii=False) + "\n")
        else:
            out.print(f"{args.text}\n{_describe(query)}", markup=False)
        return 0
    # a CLI job reading its input file, not the bot's event loop
    source = sys.stdin if args.batch == "-" else open(args.batch, encoding="utf-8")  # noqa: ASYNC230, SIM115
    with source:
        for line in source:
            query = parser.parse(line.rstrip("\n"))
            if args.json:
                sys.stdout.write(json.dumps(query.as_json(), ensure_ascii=False) + "\n")
            else:
                out.print(f"{query.text}\n{_describe(query)}", markup=False)
    return 0


def _search_table(result: SearchResult) -> Table:
    table = Table("#", "title", "unit price", "drop-ship", "MOQ", "city", "badges", "score")
    for n, hit in enumerate(result.results, 1):
        table.add_row(
            str(n),
            hit.title,
            f"{hit.unit_price:.2f}",
            "-" if hit.dropship_price is None else f"{hit.dropship_price:.2f}",
            str(hit.moq),
            hit.city,
            ",".join(BADGE_NAMES.get(b, b) for b in hit.badges if b != "trust_pass"),
            f"{hit.score:.2f}",
        )
    return table


async def cmd_search(settings: Settings, engine: AsyncEngine, args: argparse.Namespace) -> int:
    if (args.text is None) == (args.batch is None):
        err.print("give either TEXT or --batch FILE", markup=False)
        return 2
    service = SearchService(engine, await load_parser(settings, engine))
    await service.refresh()

    def show(text: str) -> None:
        result = service.search(text, limit=args.limit)
        if args.json:
            sys.stdout.write(json.dumps(result.as_json(), ensure_ascii=False) + "\n")
            return
        found = (
            f"{result.total} offers" if result.empty_reason is None else result.empty_reason.text
        )
        out.print(f"{text}  ({found})", markup=False)
        if result.results:
            out.print(_search_table(result))

    if args.batch is None:
        show(args.text)
        return 0
    # a CLI job reading its input file, not the bot's event loop
    source = sys.stdin if args.batch == "-" else open(args.batch, encoding="utf-8")  # noqa: ASYNC230, SIM115
    with source:
        for line in source:
            show(line.rstrip("\n"))
    return 0


async def cmd_db_upgrade(settings: Settings, engine: AsyncEngine, args: argparse.Namespace) -> int:
    await db.migrate(engine)
    out.print("schema is up to date", markup=False)
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from catalog_store.demo_catalog import generate

    n_factories, n_offers = generate(Path(args.out), offers=args.offers, seed=args.seed)
    out.print(f"wrote {n_factories} factories and {n_offers} offers to {args.out}", markup=False)
    return 0


async def cmd_demo(settings: Settings, engine: AsyncEngine, args: argparse.Namespace) -> int:
    """The main job until the bot exists: the demo catalog in the default store, then stats."""
    from catalog_store.demo_catalog import generate

    folder = settings.data_dir / "demo-catalog"
    if not (folder / "offers.jsonl").is_file():
        out.print(f"generating the demo catalog ({DEMO_OFFERS} offers) in {folder}", markup=False)
        generate(folder, offers=DEMO_OFFERS)
    args.path, args.partial, args.report, args.workers = folder, False, None, None
    status = await cmd_import(settings, engine, args)
    if status:
        return status
    status = await cmd_stats(settings, engine, args)
    # what a buyer sees: two searches as they would type them
    args.batch, args.json, args.limit = None, False, 3
    for text in DEMO_QUERIES:
        args.text = text
        await cmd_search(settings, engine, args)
    return status


async def _catalog_hint(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        if await latest_import_id(conn) is None:
            err.print(
                "the store holds no catalog yet: searches will find nothing. Import one with "
                "`sourcing-bot catalog import PATH`, or the demo with `sourcing-bot demo`.",
                markup=False,
            )


async def cmd_run(settings: Settings, engine: AsyncEngine, args: argparse.Namespace) -> int:
    from bot.app import open_app
    from bot.polling import run_polling

    if settings.bot_token is None or not settings.bot_token.get_secret_value().strip():
        err.print(
            "BOT_TOKEN is not set: put it in the environment or .env (from @BotFather), "
            "or try the bot in this terminal with `sourcing-bot chat`",
            markup=False,
        )
        return 2
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    async with open_app(settings, engine) as app:
        await _catalog_hint(engine)
        return await run_polling(app)


async def cmd_chat(settings: Settings, engine: AsyncEngine, args: argparse.Namespace) -> int:
    from aiogram.types import User

    from bot.app import open_app
    from bot.console import run_chat

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    user = User(
        id=args.user_id, is_bot=False, first_name=args.name, language_code=args.lang or None
    )
    async with open_app(settings, engine) as app:
        await _catalog_hint(engine)
        return await run_chat(app, sys.stdin, sys.stdout, user)


async def cmd_start(settings: Settings, engine: AsyncEngine, args: argparse.Namespace) -> int:
    token = settings.bot_token.get_secret_value().strip() if settings.bot_token else ""
    if token:
        return await cmd_run(settings, engine, args)
    out.print(
        "BOT_TOKEN is not set: starting the bot in this terminal (`sourcing-bot chat`)",
        markup=False,
    )
    return await cmd_chat(settings, engine, args)


async def cmd_factory_link(
    settings: Settings, engine: AsyncEngine, args: argparse.Namespace
) -> int:
    from sqlalchemy.ext.asyncio import AsyncSession

    from catalog_store.orders import create_factory_link

    await db.migrate(engine)
    async with AsyncSession(engine, expire_on_commit=False) as session:
        try:
            async with session.begin():
                token = await create_factory_link(session, args.factory_id)
        except LookupError as exc:
            err.print(f"cannot link: {exc}", markup=False)
            return 1
    username = settings.bot_username
    if username is None and settings.bot_token is not None:
        from bot.telegram_transport import build_bot

        bot = build_bot(settings)
        try:
            username = (await bot.get_me()).username
        finally:
            await bot.session.close()
    if username:
        out.print(f"https://t.me/{username}?start={token}", markup=False)
    else:
        out.print(f"/start {token}", markup=False)
        err.print(
            "set BOT_USERNAME (or BOT_TOKEN) to print a t.me link; until then the factory's "
            "person sends the line above to the bot",
            markup=False,
        )
    err.print("one use, valid for 7 days", markup=False)
    return 0


async def cmd_workflows_list(
    settings: Settings, engine: AsyncEngine, args: argparse.Namespace
) -> int:
    from sqlalchemy.ext.asyncio import AsyncSession

    from catalog_store.workflows.engine import install, latest_specs
    from catalog_store.workflows.spec import shipped_specs

    await db.migrate(engine)
    async with AsyncSession(engine, expire_on_commit=False) as session:
        await install(session, shipped_specs())
        specs = await latest_specs(session)
    for spec in specs:
        steps = " → ".join(step.kind.value for step in spec.steps)
        out.print(f"{spec.name} v{spec.version} ({spec.label('zh_CN')}): {steps}", markup=False)
    return 0


async def cmd_workflows_load(
    settings: Settings, engine: AsyncEngine, args: argparse.Namespace
) -> int:
    from sqlalchemy.ext.asyncio import AsyncSession

    from catalog_store.workflows.engine import WorkflowError, install
    from catalog_store.workflows.spec import read_spec

    await db.migrate(engine)
    try:
        specs = [read_spec(Path(path)) for path in args.files]
        async with AsyncSession(engine, expire_on_commit=False) as session:
            done = await install(session, specs)
    except (ValueError, WorkflowError) as exc:
        err.print(f"not loaded: {exc}", markup=False)
        return 1
    for name, version, new in done:
        out.print(f"{name} v{version}: {'stored' if new else 'already stored'}", markup=False)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sourcing-bot", description=__doc__.splitlines()[0])
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser(
        "demo", help="import the demo catalog into the default store, print stats"
    )
    demo.add_argument("--all", action="store_true", help="list every city")
    demo.set_defaults(run=cmd_demo)

    run = sub.add_parser("run", help="run the bot on Telegram with long polling (BOT_TOKEN)")
    run.set_defaults(run=cmd_run)

    chat = sub.add_parser("chat", help="talk to the bot in this terminal (no Telegram)")
    chat.add_argument(
        "--lang", default="zh-CN", help="your Telegram language code (default zh-CN; try en)"
    )
    chat.add_argument("--name", default="买家", help="your first name as the bot sees it")
    chat.add_argument("--user-id", type=int, default=10_001, help="your Telegram user id")
    chat.set_defaults(run=cmd_chat)

    start = sub.add_parser("start", help="run on Telegram if BOT_TOKEN is set, else chat here")
    start.set_defaults(run=cmd_start, lang="zh-CN", name="买家", user_id=10_001)

    factory = sub.add_parser("factory", help="factories on Telegram")
    factory_sub = factory.add_subparsers(dest="factory_command", required=True)
    link = factory_sub.add_parser("link", help="print a one-time link that binds a factory chat")
    link.add_argument("factory_id")
    link.set_defaults(run=cmd_factory_link)

    flows = sub.add_parser("workflows", help="stored order workflows")
    flows_sub = flows.add_subparsers(dest="workflows_command", required=True)
    flows_sub.add_parser("list", help="the stored workflows").set_defaults(run=cmd_workflows_list)
    load = flows_sub.add_parser("load", help="store workflow definitions from JSON files")
    load.add_argument("files", nargs="+")
    load.set_defaults(run=cmd_workflows_load)

    db_cmd = sub.add_parser("db", help="database schema")
    db_sub = db_cmd.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="apply migrations").set_defaults(run=cmd_db_upgrade)

    catalog = sub.add_parser("catalog", help="import, export and inspect the factory catalog")
    cat_sub = catalog.add_subparsers(dest="catalog_command", required=True)

    imp = cat_sub.add_parser("import", help="import a catalog folder, .tar.gz or .zip")
    imp.add_argument("path")
    imp.add_argument(
        "--partial", action="store_true", help="import the valid lines and report the rejected ones"
    )
    imp.add_argument(
        "--report",
        type=Path,
        default=None,
        help="where --partial writes rejected lines (default: DATA_DIR/import-reports/)",
    )
    imp.add_argument(
        "--workers",
        type=int,
        default=None,
        help=(
            "processes that validate lines while this one writes (default: one per CPU, "
            "at most 3, for catalogs over 64 MiB; 0: none)"
        ),
    )
    imp.set_defaults(run=cmd_import)

    exp = cat_sub.add_parser("export", help="write the catalog as a folder, .tar.gz or .zip")
    exp.add_argument("path")
    exp.set_defaults(run=cmd_export)

    stats = cat_sub.add_parser("stats", help="counts by top category, city and badge")
    stats.add_argument("--all", action="store_true", help="list every city")
    stats.set_defaults(run=cmd_stats)

    parse = sub.add_parser("parse", help="show what the query parser understands")
    parse.add_argument("text", nargs="?", help="a query, as a buyer types it")
    parse.add_argument("--json", action="store_true", help="the parsed query as JSON")
    parse.add_argument("--batch", help="a file of queries, one per line ('-': standard input)")
    parse.set_defaults(run=cmd_parse)

    search = sub.add_parser("search", help="search the catalog")
    search.add_argument("text", nargs="?", help="a query, as a buyer types it")
    search.add_argument("--json", action="store_true", help="results as JSON")
    search.add_argument("--limit", type=int, default=10, help="results per query (default 10)")
    search.add_argument("--batch", help="a file of queries, one per line ('-': standard input)")
    search.set_defaults(run=cmd_search)

    gen = cat_sub.add_parser("demo", help="generate the deterministic demo catalog into OUT")
    gen.add_argument("out")
    gen.add_argument("--offers", type=int, default=DEMO_OFFERS)
    gen.add_argument("--seed", type=int, default=1688)
    gen.set_defaults(run=cmd_generate, sync=True)
    return parser


async def _with_engine(
    settings: Settings,
    run: Callable[[Settings, AsyncEngine, argparse.Namespace], Awaitable[int]],
    args: argparse.Namespace,
) -> int:
    engine = db.create_engine(settings.db_url)
    try:
        return await run(settings, engine, args)
    finally:
        await engine.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "sync", False):
        return args.run(args)
    settings = load_settings()
    try:
        return asyncio.run(_with_engine(settings, args.run, args))
    except KeyboardInterrupt:
        return 130  # Ctrl-C: what the command was doing has said so (an import rolls back)


if __name__ == "__main__":
    sys.exit(main())
