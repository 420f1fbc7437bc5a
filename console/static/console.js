// userstream console: polls status.json every second and draws the page.
// Plain DOM, no library; text goes in through textContent only.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const fmt = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
  const fmt1 = new Intl.NumberFormat("en-US", { maximumFractionDigits: 1 });
  const n = (v) => (v === null || v === undefined ? "–" : fmt.format(v));
  const ms = (s) => (s === null || s === undefined ? "–" : s < 1 ? fmt1.format(s * 1000) + " ms" : fmt1.format(s) + " s");
  const dur = (s) => (s < 60 ? fmt1.format(s) + " s" : Math.floor(s / 60) + " min " + Math.round(s % 60) + " s");
  const time = (t) => new Date(t).toLocaleTimeString();

  function el(tag, text, cls, k) {
    const e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    if (cls) e.className = cls;
    if (k) e.dataset.k = k;
    return e;
  }
  function rows(tbody, items, cells) {
    tbody.replaceChildren(...items.map((it) => {
      const tr = document.createElement("tr");
      tr.append(...cells(it));
      return tr;
    }));
  }

  function stages(st) {
    $("stages").replaceChildren(...st.stages.map((s) => {
      const c = el("div", undefined, "card");
      c.id = "stage-" + s.name;
      c.append(el("div", s.name, "name"), el("div", n(s.total), "total", "total-" + s.name),
        el("div", s.rate === null ? "– /s" : fmt1.format(s.rate) + " /s", "rate", "rate-" + s.name));
      return c;
    }));
  }

  // Freshness: the oldest user not yet stored, and each hop's oldest.
  function freshness(st) {
    const f = st.freshness;
    $("freshness").textContent = f ? dur(f.seconds) : "(no freshness metric)";
    rows($("freshness-hops").tBodies[0], f ? f.hops : [], (h) =>
      [el("td", h.name), el("td", h.seconds === null ? "–" : dur(h.seconds), "num", "freshness-" + h.name)]);
  }

  function latencyLagErrors(st) {
    const l = st.latency;
    rows($("latency").tBodies[0], l ? [["last minute", l.recent], ["since start", l.all]] : [], ([name, q]) =>
      [el("td", name), ...q.map((v, i) => el("td", ms(v), "num", "latency-" + (name === "last minute" ? "recent" : "all") + "-" + ["p50", "p90", "p99"][i]))]);
    $("lag-total").textContent = st.lag ? "total " + n(st.lag.total) : "(no lag metric)";
    rows($("lag").tBodies[0], st.lag ? st.lag.partitions : [], (p) =>
      [el("td", p.partition), el("td", n(p.lag), "num", "lag-" + p.partition)]);
    rows($("errors").tBodies[0], st.errors, (e) =>
      [el("td", e.name), el("td", n(e.total), "num" + (e.total > 0 ? " nonzero" : ""), "err-" + e.name)]);
  }

  // The chart: throughput (left scale) and total lag (right scale) over the
  // samples the server keeps, oldest at the left.
  const W = 720, H = 220, top = 22, bottom = 200;
  function chart(st) {
    const c = st.chart, pts = c.t.length;
    $("legend-rate").textContent = c.series + " per second";
    if (pts === 0) return;
    const t0 = c.t[0], span = Math.max(c.t[pts - 1] - t0, st.interval_ms);
    const maxRate = Math.max(1, ...c.rate), maxLag = Math.max(1, ...c.lag);
    const x = (t) => ((t - t0) / span) * W;
    const y = (v, max) => bottom - (Math.max(v, 0) / max) * (bottom - top);
    const line = (vals, max) => vals.map((v, i) => (v < 0 ? null : x(c.t[i]).toFixed(1) + "," + y(v, max).toFixed(1))).filter(Boolean).join(" ");
    $("line-rate").setAttribute("points", line(c.rate, maxRate));
    $("line-lag").setAttribute("points", line(c.lag, maxLag));
    $("chart").dataset.points = pts;
    $("chart").dataset.maxRate = Math.max(...c.rate);
    $("chart").dataset.maxLag = Math.max(...c.lag);
    $("axis-rate").textContent = "max " + fmt.format(maxRate) + " /s";
    $("axis-lag").textContent = "max lag " + fmt.format(maxLag);
    $("axis-start").textContent = "−" + dur(span / 1000);
    $("chart-span").textContent = "(last " + dur(span / 1000) + ")";
  }

  function runs(st) {
    $("runs-panel").hidden = !st.has_runs;
    $("runs-error").textContent = st.runs_error || "";
    rows($("runs").tBodies[0], st.runs, (r) => {
      const k = (f) => "run-" + r.id + "-" + f;
      return [el("td", r.id, "", k("id")), el("td", r.kind), el("td", r.status, r.status, k("status")),
        el("td", time(r.started)), el("td", dur(r.seconds)),
        ...["fetched", "staged", "duplicates", "invalid", "published", "stored", "dead_lettered"].map((f) => el("td", n(r[f]), "num", k(f))),
        el("td", r.error || "", "wrap")];
    });
  }

  function deadLetters(st) {
    $("dlq-panel").hidden = !st.has_dead_letters;
    $("dlq-error").textContent = st.dead_letters_error || "";
    rows($("dlq").tBodies[0], st.dead_letters, (d) => {
      const k = (f) => "dlq-" + d.dlq_partition + "-" + d.dlq_offset + "-" + f;
      return [el("td", time(d.time)), el("td", d.reason, "", k("reason")), el("td", d.error, "wrap", k("error")),
        el("td", d.topic + "/" + d.partition + "@" + d.offset, "", k("origin")),
        el("td", d.dlq_partition + "@" + d.dlq_offset),
        el("td", d.redrive_count + (d.redriven ? ", redriven" : ""), "num", k("redrives")),
        el("td", d.preview, "preview", k("preview"))];
    });
  }

  // The search box: explain.json?id= gives one user's evidence, hop by
  // hop, shown as lines of text (as examples/explain prints them).
  const us = (v) => (v ? new Date(Math.floor(v / 1000)).toISOString() : "–"); // microseconds, shown to the millisecond
  function explainLines(r) {
    const out = [r.verdict + ": " + r.summary, "user " + r.id, "runs:"];
    if (r.runs.length === 0) out.push("  none");
    for (const run of r.runs) {
      let l = "  " + run.id + ": " + run.versions + " version(s)";
      if (run.ledger) l += "; " + run.ledger.Kind + ", " + run.ledger.Status + ", started " + run.ledger.StartedAt;
      if (run.note) l += "; " + run.note;
      out.push(l);
    }
    const o = r.outbox;
    out.push("outbox: schema " + o.schema + ", relay position " + o.position + ", topic " + (o.topic || "(none yet)"));
    if (o.versions.length === 0) out.push("  no version: not staged here");
    for (const v of o.versions) {
      let state = v.published ? "published" : "pending";
      if (v.published) state += v.record ? " at " + v.record.partition + "/" + v.record.offset + " " + v.record.published_at : " (place no longer recorded)";
      out.push("  seq " + v.seq + " version " + v.version + (v.deleted ? " delete" : " upsert") + ", run " + v.run_id + ", staged " + v.staged_at + ": " + state);
    }
    const k = r.kafka;
    if (k.found) {
      let l = "kafka: " + k.topic + " partition " + k.partition + " offset " + k.offset + ", key matches, row-version " + k.row_version +
        ", fetched-at " + (k.fetched_at || "–") + (k.tombstone ? ", tombstone" : "");
      if (k.consumed !== undefined) l += ", consumed " + k.consumed;
      out.push(l);
      if (k.note) out.push("  " + k.note);
    } else {
      out.push("kafka: not found: " + k.note);
    }
    const c = r.cassandra;
    if (!c.checked) out.push("cassandra: " + c.note);
    else if (c.found) out.push("cassandra: " + c.table + " has the row, write time " + c.write_time + " (" + us(c.write_time) + "), at the latest version: " + c.at_latest);
    else out.push("cassandra: " + c.table + " has no row");
    const d = r.dead_letters;
    if (!d.checked) out.push("dead letters: " + d.note);
    else if (d.letters.length === 0) out.push("dead letters: none in " + d.topic + (d.note ? " (" + d.note + ")" : ""));
    else {
      out.push("dead letters in " + d.topic + ":");
      for (const l of d.letters) {
        out.push("  " + l.position.topic + "/" + l.position.partition + "/" + l.position.offset + " at " + l.time + ": " + l.reason + ": " + l.error +
          " (from " + l.original.topic + "/" + l.original.partition + "/" + l.original.offset + ", row-version " + l.row_version + ")" + (l.redriven ? ", redriven" : ""));
      }
      if (d.note) out.push("  " + d.note);
    }
    return out.join("\n");
  }
  $("explain-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const id = $("explain-id").value.trim();
    $("explain-error").textContent = "";
    $("explain-out").textContent = "looking…";
    try {
      const r = await fetch("explain.json?id=" + encodeURIComponent(id), { cache: "no-store" });
      const body = await r.json();
      if (!r.ok) throw new Error(body.error || r.status + " " + r.statusText);
      $("explain-out").textContent = explainLines(body);
      $("explain-out").dataset.verdict = body.verdict;
    } catch (e) {
      $("explain-out").textContent = "";
      $("explain-error").textContent = e.message;
    }
  });

  async function poll() {
    try {
      const r = await fetch("status.json", { cache: "no-store" });
      if (!r.ok) throw new Error(r.status + " " + r.statusText);
      const st = await r.json();
      document.title = st.title + " console";
      $("title").textContent = st.title;
      stages(st);
      freshness(st);
      latencyLagErrors(st);
      chart(st);
      runs(st);
      deadLetters(st);
      $("explain-panel").hidden = !st.has_explain;
      $("last-success").textContent = st.last_success ? "last successful run " + new Date(st.last_success).toLocaleString() : "";
      $("updated").textContent = "updated " + time(st.time);
      $("updated").className = "muted";
      document.body.dataset.polls = (+(document.body.dataset.polls || 0) + 1).toString();
    } catch (e) {
      $("updated").textContent = "cannot reach the pipeline: " + e.message;
      $("updated").className = "stale";
    }
    setTimeout(poll, 1000);
  }
  poll();
})();
