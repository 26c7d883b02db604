"""Tables, PNG charts and docs/performance.md from a results.json of run.py.

    benchmarks/.venv/bin/python benchmarks/report.py [results.json] [--docs]

Medians over the timed runs, with min and max; "×" columns are the peer's median
divided by this driver's (same API style: sync peers against our sync client,
asyncio peers against our asyncio client), so 2.0× means we take half the time.
"""
import json
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DOC = os.path.join(REPO, "docs", "performance.md")
BEGIN, END = "<!-- BEGIN GENERATED RESULTS -->", "<!-- END GENERATED RESULTS -->"

ASYNC = {"ours-async", "ours-h2-async", "cc-async", "asynch", "aiochclient"}
LABELS = {
    "ours-sync": "**ours, sync** (HTTP/1.1 pool)",
    "ours-sync-facts": "**ours, sync**, own query_id + summary read per query",
    "ours-sync-native": "**ours, sync**, the same tuples as one Native block (`insert_columns`)",
    "ours-async": "**ours, asyncio** (HTTP/1.1 pool)",
    "ours-h2": "**ours, sync, h2** (TLS via nginx)",
    "ours-h2-async": "**ours, asyncio, h2** (TLS via nginx)",
    "ours-embedded": "**ours, embedded** (chDB in-process¹)",
    "cc-sync": "clickhouse-connect, sync",
    "cc-async": "clickhouse-connect, async (aiohttp)",
    "clickhouse-driver": "clickhouse-driver (native TCP)",
    "asynch": "asynch (native TCP, asyncio)",
    "aiochclient": "aiochclient (aiohttp)",
}
TITLES = {}


def set_titles(sz):
    TITLES.update({
        "seq": f"1. {sz['seq_n']:,} sequential small SELECTs, one thread",
        "conc": f"2. {sz['conc_n']:,} concurrent small SELECTs, one asyncio loop",
        "fetch": f"3. Fetch {sz['fetch_rows']:,} rows × 5 columns into tuples",
        "insert": f"4. Insert {sz['insert_rows']:,} rows",
        "orm": "5. Django ORM per-query overhead",
        "dash": "6. ASGI dashboard: 8 concurrent aggregates per request",
        "pages": "6b. The example dashboard (README command 1): async page vs sync page, embedded engine",
        "stream": f"7. Peak RSS while streaming {sz['stream_rows']:,} rows",
    })


def med(xs):
    return statistics.median(xs) if xs else None


def fmt_s(x):
    if x is None:
        return "—"
    if x < 1e-3:
        return f"{x * 1e6:.0f} µs"
    if x < 1:
        return f"{x * 1e3:.1f} ms"
    return f"{x:.2f} s"


def fmt_ratio(x):
    return "—" if x is None else f"{x:.2f}×"


def is_orm_mode(entry):
    """Workload 6 compares ORM with ORM; driver-async skips the ORM (a reference)."""
    return entry["mode"].startswith("orm-")


def mib(b):
    return f"{b / 2**20:.0f} MiB"


class Report:
    def __init__(self, results, out_dir):
        self.r = results
        self.out = out_dir
        self.cases = results["cases"]
        set_titles(results["sizes"])
        self.charts = []
        self.targets = []

    def case(self, workload, client, **kw):
        for c in self.cases:
            if c["workload"] == workload and c["client"] == client and all(c.get(k) == v for k, v in kw.items()):
                return c
        return None

    def median_of(self, workload, client, **kw):
        c = self.case(workload, client, **kw)
        return med(c["times"]) if c and c.get("times") else None

    def raw(self, workload, proto="h1"):
        for e in self.r.get("raw", []):
            if e["workload"] == workload and e["proto"] == proto and e["times"]:
                return e
        return None

    # -- driver workloads -----------------------------------------------------
    def driver_table(self, w, unit_label, per_unit):
        """per_unit(case) -> (value, label) derived rate column."""
        lines = [f"| client | median | min | max | {unit_label} | client CPU² | rows³ | ours is … faster |",
                 "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        names, meds, los, his, colors = [], [], [], [], []
        for c in [c for c in self.cases if c["workload"] == w]:
            client = c["client"]
            label = LABELS.get(client, client)
            if not c.get("times"):
                why = c.get("skip") or c.get("error") or "no result"
                lines.append(f"| {label} | {'skipped' if 'skip' in c else 'failed'}: {why} | | | | | | |")
                continue
            m = med(c["times"])
            ref = "ours-async" if client in ASYNC else "ours-sync"
            if w == "conc":
                ref = "ours-async"
            ratio = None
            if not client.startswith("ours"):
                rm = self.median_of(w, ref)
                ratio = m / rm if rm else None
            lines.append(f"| {label} | {fmt_s(m)} | {fmt_s(min(c['times']))} | {fmt_s(max(c['times']))} | "
                         f"{per_unit(c, m)} | {fmt_s(med(c.get('cpu', [])))} | {c.get('rows', 0):,} | {fmt_ratio(ratio)}"
                         f"{' (vs ' + ref + ')' if ratio else ''} |")
            names.append(client)
            meds.append(m)
            los.append(min(c["times"]))
            his.append(max(c["times"]))
            colors.append("#1f77b4" if client.startswith("ours") else "#aaaaaa")
        return lines, (names, meds, los, his, colors)

    def driver_section(self, w):
        sz = self.r["sizes"]
        out = [f"### {TITLES[w]}", ""]
        if w in ("seq", "conc"):
            n = sz["seq_n" if w == "seq" else "conc_n"]
            lines, data = self.driver_table(w, "µs per query", lambda c, m: f"{m / n * 1e6:.0f}")
            out += lines
            for proto in ("h1", "h2-tls-nginx"):
                e = self.raw(w, proto)
                if e:
                    m = med(e["times"])
                    desc = (f"{e['connections']} connection(s)" + (f", {e['streams']} streams" if e["streams"] > 1 else ""))
                    out.append(f"| raw limit: h2load {proto} ({desc}) | {fmt_s(m)} | {fmt_s(min(e['times']))} | "
                               f"{fmt_s(max(e['times']))} | {m / n * 1e6:.0f} | — | — | — |")
            raw = self.raw(w)
            ours = "ours-sync" if w == "seq" else "ours-async"
            om = self.median_of(w, ours)
            if raw and om:
                out += ["", f"{ours} takes {om / med(raw['times']):.2f}× the raw limit "
                            f"(h2load, same request: POST, same query, Native output; "
                            f"`{raw['cmd']}`)."]
            self.bar_chart(w, data, "seconds (lower is better)", raw_line=med(raw["times"]) if raw else None)
        elif w == "fetch":
            lines, data = self.driver_table(w, "rows/s", lambda c, m: f"{c.get('rows', 0) / m / 1e6:.2f} M")
            out += lines
            self.bar_chart(w, data, "seconds (lower is better)")
        elif w == "insert":
            lines, data = self.driver_table(w, "rows/s", lambda c, m: f"{c.get('rows', 0) / m / 1e6:.2f} M")
            out += lines
            dj = [c for c in self.cases if c["workload"] == "dj-bulk"]
            if dj:
                out += ["", f"Django `bulk_create` of {sz['dj_insert_rows']:,} model instances "
                            f"(objects built beforehand, not timed; USE_TZ={dj[0].get('use_tz')}):", "",
                        "| backend | median | min | max | rows/s | ours is … faster |",
                        "| --- | ---: | ---: | ---: | ---: | ---: |"]
                om = self.median_of("dj-bulk", "ours")
                for c in dj:
                    label = "**this backend**" if c["client"] == "ours" else "django-clickhouse-backend"
                    if not c.get("times"):
                        out.append(f"| {label} | failed: {c.get('error')} | | | | |")
                        continue
                    m = med(c["times"])
                    ratio = m / om if om and c["client"] != "ours" else None
                    out.append(f"| {label} | {fmt_s(m)} | {fmt_s(min(c['times']))} | {fmt_s(max(c['times']))} | "
                               f"{c['rows'] / m / 1e6:.2f} M | {fmt_ratio(ratio)} |")
                    data[0].append("django " + c["client"])
                    data[1].append(m)
                    data[2].append(min(c["times"]))
                    data[3].append(max(c["times"]))
                    data[4].append("#2ca02c" if c["client"] == "ours" else "#dddddd")
            self.bar_chart(w, data, "seconds (lower is better)")
        out.append("")
        return out

    # -- Django -------------------------------------------------------------------
    def orm_section(self):
        out = [f"### {TITLES['orm']}", "",
               "Per query, median of the runs (min–max). *driver* replays the very SQL the ORM sent "
               "through the backend's own DB-API cursor; the difference is what the ORM and the "
               "backend add.", "",
               "*async API* runs the same query through Django's async API (`aget`, `acount`… one after "
               "another).", "",
               "| backend | query | through the ORM | async API | driver only | ORM + backend overhead | "
               "ours is … faster |",
               "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
        data = ([], [], [], [], [])
        for q in ("filter_values", "aggregate"):
            om = self.median_of("orm", "ours", query=q)
            for backend in ("ours", "dcb"):
                c = self.case("orm", backend, query=q)
                label = "**this backend**" if backend == "ours" else "django-clickhouse-backend"
                if not c or not c.get("times"):
                    err = self.case("orm", backend) or {}
                    out.append(f"| {label} | {q} | failed: {err.get('error', 'no result')} | | | | |")
                    continue
                m, rm = med(c["times"]), med(c["raw_times"])
                ratio = m / om if om and backend != "ours" else None
                am = med(c.get("async_times") or [])
                out.append(f"| {label} | `{q}` | {fmt_s(m)} ({fmt_s(min(c['times']))}–{fmt_s(max(c['times']))}) | "
                           f"{fmt_s(am) if am else '—'} | {fmt_s(rm)} | {fmt_s(m - rm)} | {fmt_ratio(ratio)} |")
                data[0].append(f"{backend}\n{q}")
                data[1].append(m * 1e6)
                data[2].append(min(c["times"]) * 1e6)
                data[3].append(max(c["times"]) * 1e6)
                data[4].append("#2ca02c" if backend == "ours" else "#aaaaaa")
        c = self.case("orm", "ours", query="aggregate")
        if c:
            out += ["", f"SQL of `aggregate`: `{c['sql']}`"]
        self.bar_chart("orm", data, "µs per query (lower is better)")
        out.append("")
        return out

    def dash_section(self):
        d = self.r.get("dash", [])
        out = [f"### {TITLES['dash']}", ""]
        if not d:
            return out + ["not run", ""]
        conns = d[0].get("connections")
        out += [f"uvicorn (1 worker) serving `djbench`, `wrk -t1 -c{conns}` for "
                f"{self.r['sizes']['dash_seconds']} s per run; req/s median (min–max). The ORM modes "
                "are compared with the best ORM mode of django-clickhouse-backend; `driver-async` "
                "(this backend's SQL captured once at start-up, run on the asyncio driver: no ORM "
                "compilation, no converters) is a reference row, not a competitor.", "",
                "| backend | mode | req/s | p50 latency | p99 latency | vs best django-clickhouse-backend ORM |",
                "| --- | --- | ---: | ---: | ---: | ---: |"]
        best_dcb = self.best_dash_rps("dcb")
        data = ([], [], [], [], [])
        for e in sorted(d, key=lambda e: not is_orm_mode(e)):  # the reference row last
            label = "**this backend**" if e["backend"] == "ours" else "django-clickhouse-backend"
            if not is_orm_mode(e):
                label = "reference: this backend's SQL on the driver, no ORM"
            if not e.get("rps"):
                out.append(f"| {label} | `{e['mode']}` | failed: {e.get('error')} | | | |")
                continue
            m = med(e["rps"])
            note = f" ⚠ {e['error'].strip()}" if e.get("error") else ""
            vs = fmt_ratio(m / best_dcb) if best_dcb and is_orm_mode(e) else "—"
            out.append(f"| {label} | `{e['mode']}` | {m:.0f} ({min(e['rps']):.0f}–{max(e['rps']):.0f}){note} | "
                       f"{med(e['p50_ms']):.1f} ms | {med(e['p99_ms']):.1f} ms | {vs} |")
            data[0].append(f"{e['backend']}\n{e['mode']}")
            data[1].append(m)
            data[2].append(min(e["rps"]))
            data[3].append(max(e["rps"]))
            data[4].append("#2ca02c" if e["backend"] == "ours" else "#aaaaaa")
        self.bar_chart("dash", data, "requests/s (higher is better)")
        out.append("")
        return out

    def pages_section(self):
        pg = self.r.get("pages")
        out = [f"### {TITLES['pages']}", ""]
        if not pg:
            return out + ["not run", ""]
        if pg.get("error"):
            return out + [f"failed: {pg['error']}", ""]
        out += [f"`examples/dashboard` under uvicorn on chDB with {pg['rows']:,} demo events; each page "
                f"loaded {len(pg['quiet']['async'])} times, one at a time, alternating (the async page runs its "
                "19 queries at once on the event loop, the sync page one after another); then the same beside "
                "a CPU-bound neighbour process (`while True: pass`). Median (min–max).", "",
                "| machine | async page `/` | sync page `/sync/` | async is … faster |",
                "| --- | ---: | ---: | ---: |"]
        for where, label in (("quiet", "quiet"), ("neighbour", "with a CPU-bound neighbour")):
            a, s_ = pg[where]["async"], pg[where]["sync"]
            out.append(f"| {label} | {fmt_s(med(a))} ({fmt_s(min(a))}–{fmt_s(max(a))}) | "
                       f"{fmt_s(med(s_))} ({fmt_s(min(s_))}–{fmt_s(max(s_))}) | {fmt_ratio(med(s_) / med(a))} |")
        return out + [""]

    def stream_section(self):
        rows_full = self.r["sizes"]["stream_rows"]
        out = [f"### {TITLES['stream']}", "",
               "Each client iterates over the rows one by one (its streaming API) in a fresh process; "
               "the runner samples the process's RSS every 50 ms. *Growth* is the peak RSS minus the "
               "RSS just before the query. The same run at a tenth of the rows shows whether memory "
               "is flat.", "",
               f"| client | time ({rows_full:,} rows) | rows/s | peak growth, {rows_full // 10:,} rows | "
               f"peak growth, {rows_full:,} rows | flat? |",
               "| --- | ---: | ---: | ---: | ---: | --- |"]
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(9, 4.5))
        clients = []
        for c in self.cases:
            if c["workload"] == "stream" and c["client"] not in clients:
                clients.append(c["client"])
        for client in clients:
            small = self.case("stream", client, stream_rows=rows_full // 10)
            full = self.case("stream", client, stream_rows=rows_full)
            label = LABELS.get(client, client)
            if not full or not full.get("times"):
                why = (full or {}).get("error") or (full or {}).get("skip") or "no result"
                out.append(f"| {label} | failed: {why} | | | | |")
                continue

            def growth(c):
                if not c or not c.get("times"):
                    return None
                peak = max([s[1] for s in c.get("rss_series", [])] + [c.get("rss_after", 0)])
                return max(0, peak - c["rss_before"])

            gs, gf = growth(small), growth(full)
            flat = "—" if gs is None else ("yes" if gf <= gs * 1.25 + 8 * 2**20 else "**no**")
            t = full["times"][0]
            out.append(f"| {label} | {fmt_s(t)} | {full['rows'] / t / 1e6:.2f} M | "
                       f"{mib(gs) if gs is not None else '—'} | {mib(gf)} | {flat} |")
            series = full.get("rss_series") or []
            if series:
                ax.plot([s[0] for s in series], [s[1] / 2**20 for s in series], label=client,
                        linewidth=2.2 if client.startswith("ours") else 1.2)
        ax.set_xlabel("seconds since the process started")
        ax.set_ylabel("RSS, MiB")
        ax.set_title(f"RSS while streaming {rows_full:,} rows")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        self.save(fig, "stream")
        out.append("")
        return out

    # -- charts -------------------------------------------------------------------
    def bar_chart(self, name, data, ylabel, raw_line=None):
        names, meds, los, his, colors = data
        if not names:
            return
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(max(6, 1.05 * len(names) + 2), 4.5))
        x = range(len(names))
        err = [[m - lo for m, lo in zip(meds, los)], [hi - m for m, hi in zip(meds, his)]]
        ax.bar(x, meds, color=colors, yerr=err, capsize=3)
        for i, m in enumerate(meds):
            ax.annotate(f"{m:.3g}", (i, m), ha="center", va="bottom", fontsize=8,
                        xytext=(0, 2), textcoords="offset points")
        if raw_line:
            ax.axhline(raw_line, color="red", linestyle="--", linewidth=1)
            ax.annotate("raw limit (h2load)", (len(names) - 0.5, raw_line), color="red", fontsize=8,
                        ha="right", va="bottom")
        ax.set_xticks(list(x))
        ax.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel(ylabel)
        ax.set_title(TITLES.get(name, name), fontsize=10)
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        self.save(fig, name)

    def save(self, fig, name):
        import matplotlib.pyplot as plt

        path = os.path.join(self.out, f"{name}.png")
        fig.savefig(path, dpi=90)
        plt.close(fig)
        self.charts.append((name, path))

    def best_dash_rps(self, backend):
        """The best median req/s of a backend's ORM modes (runs without errors)."""
        return max((med(e["rps"]) for e in self.r.get("dash", [])
                    if e["backend"] == backend and is_orm_mode(e) and e.get("rps") and not e.get("error")),
                   default=None)

    # -- targets ------------------------------------------------------------------
    def target_rows(self):
        rows = []

        def add(what, ours, peer, goal, w, fmt=">= {goal}×"):
            om, pm = self.median_of(w, ours), self.median_of(w, peer)
            if om is None or pm is None:
                rows.append(f"| {what} | {fmt.format(goal=goal)} | not measured | — |")
                return
            r = pm / om
            rows.append(f"| {what} | {fmt.format(goal=goal)} | {r:.2f}× | {'met' if r >= goal else '**missed**'} |")

        add("1: ours sync vs clickhouse-connect sync", "ours-sync", "cc-sync", 2.0, "seq")
        om, fm = self.median_of("seq", "ours-sync"), self.median_of("seq", "ours-sync-facts")
        if om and fm:
            r = fm / om - 1
            rows.append(f"| 1: query_id + summary per query vs plain (ours sync) | <= 3 % overhead | "
                        f"{r * 100:+.1f} % | {'met' if r <= 0.03 else '**missed**'} |")
        add("2: ours asyncio vs clickhouse-connect async", "ours-async", "cc-async", 3.0, "conc")
        add("2: ours asyncio vs aiochclient", "ours-async", "aiochclient", 3.0, "conc")
        raw, om = self.raw("conc"), self.median_of("conc", "ours-async")
        if raw and om:
            r = om / med(raw["times"])
            rows.append(f"| 2: ours asyncio vs the raw limit (h2load) | <= 1.3× the raw time | {r:.2f}× | "
                        f"{'met' if r <= 1.3 else '**missed**'} |")
        add("3: ours sync vs clickhouse-connect sync", "ours-sync", "cc-sync", 1.5, "fetch")
        add("4: ours sync vs clickhouse-connect sync", "ours-sync", "cc-sync", 1.5, "insert")
        ours, dcb = self.best_dash_rps("ours"), self.best_dash_rps("dcb")
        if ours and dcb:
            r = ours / dcb
            rows.append(f"| 6: best ORM mode vs best ORM mode of django-clickhouse-backend | >= 3× req/s | "
                        f"{r:.2f}× | {'met' if r >= 3 else '**missed**'} |")
        else:
            rows.append("| 6: best ORM mode vs best ORM mode of django-clickhouse-backend | >= 3× req/s | "
                        "not measured | — |")
        # the async ORM on the greenlet bridge (issue 12)
        dash = {e["mode"]: med(e["rps"]) for e in self.r.get("dash", [])
                if e["backend"] == "ours" and e.get("rps") and not e.get("error")}
        if dash.get("orm-async") and dash.get("orm-threads"):
            r = dash["orm-async"] / dash["orm-threads"]
            rows.append(f"| 6: ours orm-async vs ours orm-threads | >= 1.3× req/s | {r:.2f}× | "
                        f"{'met' if r >= 1.3 else '**missed**'} |")
        if dash.get("orm-async") and dcb:
            r = dash["orm-async"] / dcb
            rows.append(f"| 6: ours orm-async vs best ORM mode of django-clickhouse-backend | >= 2.5× req/s | "
                        f"{r:.2f}× | {'met' if r >= 2.5 else '**missed**'} |")
        for q in ("filter_values", "aggregate"):
            c = self.case("orm", "ours", query=q)
            if c and c.get("times") and c.get("async_times"):
                r = med(c["async_times"]) / med(c["times"]) - 1
                rows.append(f"| 5: async API vs sync per query (ours, `{q}`) | <= 10 % slower | {r * 100:+.1f} % | "
                            f"{'met' if r <= 0.10 else '**missed**'} |")
        pg = self.r.get("pages") or {}
        for where in ("quiet", "neighbour"):
            if pg.get(where):
                r = med(pg[where]["sync"]) / med(pg[where]["async"])
                rows.append(f"| 6b: example dashboard, async page vs sync page ({where}) | faster | {r:.2f}× | "
                            f"{'met' if r > 1 else '**missed**'} |")
        flat = []
        rows_full = self.r["sizes"]["stream_rows"]
        for client in ("ours-sync", "ours-async"):
            s = self.case("stream", client, stream_rows=rows_full // 10)
            f = self.case("stream", client, stream_rows=rows_full)
            if s and f and s.get("times") and f.get("times"):
                gs = max([x[1] for x in s.get("rss_series", [])] + [s["rss_after"]]) - s["rss_before"]
                gf = max([x[1] for x in f.get("rss_series", [])] + [f["rss_after"]]) - f["rss_before"]
                ok = gf <= gs * 1.25 + 8 * 2**20
                flat.append(f"{client}: {mib(gs)} → {mib(gf)}" + ("" if ok else " (grows)"))
                rows.append(f"| 7: {client} peak RSS growth, {rows_full // 10:,} → {rows_full:,} rows | flat | "
                            f"{mib(gs)} → {mib(gf)} | {'met' if ok else '**missed**'} |")
        return ["| target | goal | measured | |", "| --- | --- | --- | --- |"] + rows

    def machine(self):
        m = self.r["machine"]
        v = m.get("versions", {})
        return [
            f"* **When:** {m['date']}, {m.get('duration_s', '?')} s for the whole run; load average "
            f"{' '.join(m['loadavg_start'])} at the start, {' '.join(m.get('loadavg_end', ['?']))} at the end.",
            f"* **Machine:** {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; {m['os']}, "
            f"Linux {m['kernel']}; Python {m['python']}.",
            f"* **Server:** ClickHouse {m['clickhouse']} (a private `tests/server/ctl.sh` server, "
            "loopback, on the same 2 cores as the clients).",
            f"* **This driver:** `{m['ours']}`. **Peers:** "
            + ", ".join(f"{k} {val}" for k, val in sorted(v.items())) + ".",
            f"* **Load generators:** {m['h2load']}; {m['wrk']}.",
        ]

    def markdown(self):
        sz = self.r["sizes"]
        out = [BEGIN, "", f"Reproduce: `{self.r.get('command', 'bash benchmarks/run.sh')}` "
               f"({sz['runs']} timed runs per case after a warm-up run, {sz.get('heavy_runs', sz['runs'])} for "
               "fetch, insert and bulk_create; medians, with min and max).", ""]
        out += self.machine() + ["", "### Targets", ""] + self.target_rows() + [""]
        for w in ("seq", "conc", "fetch", "insert"):
            out += self.driver_section(w)
        out += self.orm_section() + self.dash_section() + self.pages_section() + self.stream_section()
        if any(c["workload"] == "columnar" for c in self.cases):
            out += ["### 8. Columnar results and inserts (NumPy, pandas, Arrow)", "",
                    columnar_markdown(self.r), ""]
        out += ["¹ chDB (ClickHouse 26.x) in the benchmark process, not the 18.16 server: "
                "no network at all, shown for scale.", "",
                "² user + system CPU time of the client process (all its threads) during the timed run, "
                "median: unlike wall time it does not depend on how busy the shared machine is.", "",
                "³ rows fetched (inserted) per timed run, checked against the rows asked for: a case "
                "whose count differs in any run is reported as failed, not timed.", "",
                "### Charts", ""]
        rel = os.path.relpath(self.out, os.path.join(REPO, "docs"))
        for name, path in self.charts:
            out.append(f"![{TITLES.get(name, name)}]({rel}/{os.path.basename(path)})")
            out.append("")
        out.append(END)
        return "\n".join(out) + "\n"


# Workload 8: (client:kind) -> label; targets: (ours case, peer case, goal)
COLUMNAR_LABELS = {
    "ours-sync:tuples": "**ours, sync**: `fetchall()` (tuples, workload 3)",
    "ours-sync:numpy": "**ours, sync**: `fetchnumpy()`",
    "ours-sync:df": "**ours, sync**: `fetch_df()`",
    "ours-sync:arrow": "**ours, sync**: `fetch_arrow_table()`",
    "ours-embedded:numpy": "**ours, embedded**¹: `fetchnumpy()`",
    "ours-embedded:arrow": "**ours, embedded**¹: `fetch_arrow_table()`",
    "cc-sync:numpy": "clickhouse-connect: `query_np()`",
    "cc-sync:df": "clickhouse-connect: `query_df()`",
    "cc-sync:arrow": "clickhouse-connect: `query_arrow()`",
    "clickhouse-driver:numpy": "clickhouse-driver: `execute(columnar=True, use_numpy)`",
    "clickhouse-driver:df": "clickhouse-driver: `query_dataframe(use_numpy)`",
    "ours-sync:insert_df": "**ours, sync**: `insert_df()`",
    "cc-sync:insert_df": "clickhouse-connect: `insert_df()`",
    "clickhouse-driver:insert_df": "clickhouse-driver: `insert_dataframe(use_numpy)`",
}
COLUMNAR_TARGETS = [
    ("ours-sync:numpy", "ours-sync:tuples", 5.0), ("ours-sync:numpy", "cc-sync:numpy", 1.5),
    ("ours-sync:numpy", "clickhouse-driver:numpy", 1.5), ("ours-sync:df", "cc-sync:df", 1.5),
    ("ours-sync:arrow", "cc-sync:arrow", 1.5), ("ours-sync:insert_df", "cc-sync:insert_df", 1.5),
]


def columnar_markdown(results):
    """Workload 8's tables (markdown) from a results.json of `run.py --only columnar`."""
    cases = {}
    stream = []
    for c in results["cases"]:
        if c.get("workload") != "columnar":
            continue
        if c.get("kind") == "batches":
            stream.append(c)
        else:
            cases[c["client"]] = c

    def stat(key, what):
        c = cases.get(key)
        return med(c.get(what, [])) if c and not c.get("error") else None

    lines = ["| target | goal | wall time | client CPU² | |", "| --- | --- | ---: | ---: | --- |"]
    for ours, peer, goal in COLUMNAR_TARGETS:
        wall = [stat(ours, "times"), stat(peer, "times")]
        cpu = [stat(ours, "cpu"), stat(peer, "cpu")]
        if None in wall:
            err = (cases.get(peer) or {}).get("error", "no result")
            lines.append(f"| {COLUMNAR_LABELS[ours]} vs {COLUMNAR_LABELS[peer]} | >= {goal}× | — | — | "
                         f"not measurable: {err.split('(for url')[0][:110].strip()} |")
            continue
        rw, rc = wall[1] / wall[0], cpu[1] / cpu[0]
        lines.append(f"| {COLUMNAR_LABELS[ours]} vs {COLUMNAR_LABELS[peer]} | >= {goal}× | {rw:.2f}× | {rc:.2f}× | "
                     f"{'met' if rw >= goal else '**missed**'} |")
    lines += ["", "| case | median | min | max | rows/s | client CPU² |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for key, label in COLUMNAR_LABELS.items():
        c = cases.get(key)
        if not c:
            continue
        if c.get("error"):
            lines.append(f"| {label} | failed: {c['error'].split('(for url')[0][:100].strip()} | | | | |")
            continue
        t = c["times"]
        lines.append(f"| {label} | {fmt_s(med(t))} | {fmt_s(min(t))} | {fmt_s(max(t))} | "
                     f"{c['rows'] / med(t) / 1e6:.2f} M | {fmt_s(med(c.get('cpu', [])))} |")
    if stream:
        lines += ["", "| `fetch_record_batch()` rows | time | peak RSS growth |", "| ---: | ---: | ---: |"]
        for c in sorted(stream, key=lambda c: c.get("stream_rows", 0)):
            peak = max((v for _, v in c.get("rss_series", [])), default=0)
            growth = peak - (c.get("rss_before") or 0)
            lines.append(f"| {c['stream_rows']:,} | {fmt_s(med(c.get('times', [])))} | {mib(growth)} |")
    return "\n".join(lines)


def write_doc(block):
    text = open(DOC).read() if os.path.exists(DOC) else "# Performance\n\n" + BEGIN + "\n" + END + "\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        text = head + block.rstrip("\n") + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block
    with open(DOC, "w") as f:
        f.write(text)


def main(path=None, out_dir=None, write_docs=False):
    import matplotlib

    matplotlib.use("Agg")
    path = path or os.path.join(HERE, "results", "results.json")
    out_dir = out_dir or os.path.dirname(path)
    with open(path) as f:
        results = json.load(f)
    rep = Report(results, out_dir)
    block = rep.markdown()
    with open(os.path.join(out_dir, "results.md"), "w") as f:
        f.write(block)
    if write_docs:
        write_doc(block)
        print(f"updated {DOC}", file=sys.stderr)
    print(block)


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if "--columnar" in sys.argv:  # workload 8's tables, to paste into docs/performance.md
        with open(args[0]) as f:
            print(columnar_markdown(json.load(f)))
        sys.exit(0)
    main(args[0] if args else None, write_docs="--docs" in sys.argv)
