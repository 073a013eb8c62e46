//! `index.html`: the report as one self-contained page. Figures are PNG
//! data URIs, style and script are inline, and nothing refers to any URL,
//! so the file can be mailed, archived or opened offline and look the same.
//!
//! The experiment matrix is a table sorted by UA; a small script makes every
//! column header sort it (click or Enter), and keeps the order in the URL
//! fragment (`#sort=wa:desc`) so a sorted view can be linked and reloaded.

use std::fmt::Write;

use base64::Engine;

use crate::format::{interval, metric, metric_ci, short_key};
use crate::{Entry, ReportInput};

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Columns of the matrix: sort key, header, numeric (sorts descending
/// first, by `data-value`) or text.
const COLUMNS: [(&str, &str, bool); 11] = [
    ("rank", "#", true),
    ("experiment", "experiment", false),
    ("features", "features", false),
    ("selection", "selection", false),
    ("model", "model", false),
    ("protocol", "protocol", false),
    ("ua", "UA", true),
    ("wa", "WA", true),
    ("f1", "macro-F1", true),
    ("n", "n", true),
    ("node", "node key", false),
];

pub(crate) fn render(input: &ReportInput, entries: &[Entry<'_>]) -> String {
    let e = escape_html;
    let mut h = String::with_capacity(64 * 1024);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<header>\n<h1>{}</h1>\n",
        e(&input.title),
        e(&input.title)
    );
    let _ = writeln!(
        h,
        "<p class=\"meta\">{} experiment{} · config <code>{}</code></p>",
        entries.len(),
        if entries.len() == 1 { "" } else { "s" },
        e(&input.config_hash)
    );
    if let Some(best) = entries.first() {
        let x = best.exp;
        let _ = writeln!(
            h,
            "<p class=\"best\">Best UA: <strong>{}</strong> — <a href=\"#exp-{}\">{}</a> ({})</p>",
            e(&metric_ci(x.ua, x.ua_ci)),
            e(&best.slug),
            e(&x.name),
            e(&x.protocol)
        );
    }
    h.push_str("</header>\n<main>\n");

    // The matrix.
    h.push_str("<section id=\"matrix\">\n<h2>Experiment matrix</h2>\n");
    if entries.is_empty() {
        h.push_str("<p class=\"empty\">No experiments were evaluated.</p>\n");
    }
    h.push_str(
        "<p class=\"hint\">UA: unweighted average recall; WA: accuracy; both and macro-F1 \
         averaged over folds, with the confidence interval in brackets where computed. \
         Click a column header to sort.</p>\n<div class=\"table-wrap\">\n\
         <table id=\"results\" class=\"sortable\" data-sorted-by=\"ua:desc\">\n<thead><tr>",
    );
    for (key, label, numeric) in COLUMNS {
        let _ = write!(
            h,
            "<th data-key=\"{key}\" data-type=\"{}\"{}>{}</th>",
            if numeric { "num" } else { "text" },
            if key == "ua" {
                " aria-sort=\"descending\""
            } else {
                ""
            },
            e(label)
        );
    }
    h.push_str("</tr></thead>\n<tbody>\n");
    for entry in entries {
        let x = entry.exp;
        let num = |v: f64| {
            if v.is_finite() {
                format!("{v}")
            } else {
                "NaN".to_string()
            }
        };
        let _ = writeln!(
            h,
            "<tr data-experiment=\"{slug}\"><td class=\"num\" data-value=\"{rank}\">{rank}</td>\
             <td><a href=\"#exp-{slug}\">{name}</a>{mark}</td><td>{feat}</td><td>{sel}</td><td>{model}</td><td>{prot}</td>\
             <td class=\"num\" data-value=\"{ua_v}\">{ua}</td><td class=\"num\" data-value=\"{wa_v}\">{wa}</td>\
             <td class=\"num\" data-value=\"{f1_v}\">{f1}</td><td class=\"num\" data-value=\"{n}\">{n}</td>\
             <td><code title=\"{key}\">{key_short}</code></td></tr>",
            slug = e(&entry.slug),
            rank = entry.rank,
            name = e(&x.name),
            mark = if x.transductive {
                " <abbr class=\"transductive\" title=\"transductive: test speakers normalised by their own audio\">(T)</abbr>"
            } else {
                ""
            },
            feat = e(&x.features),
            sel = e(&x.selection),
            model = e(&x.model),
            prot = e(&x.protocol),
            ua_v = num(x.ua),
            ua = metric_html(x.ua, x.ua_ci),
            wa_v = num(x.wa),
            wa = metric_html(x.wa, x.wa_ci),
            f1_v = num(x.macro_f1),
            f1 = metric_html(x.macro_f1, x.macro_f1_ci),
            n = x.n_test,
            key = e(&x.node_key),
            key_short = e(&short_key(&x.node_key)),
        );
    }
    h.push_str("</tbody>\n</table>\n</div>\n");
    for line in notes(&entries.iter().map(|x| x.exp).collect::<Vec<_>>()).lines() {
        let _ = writeln!(h, "<p class=\"hint\">{}</p>", e(line));
    }
    h.push_str("</section>\n");

    if !input.choices.is_empty() {
        h.push_str(
            "<section id=\"choices\">\n<h2>Chosen inside the training folds</h2>\n<p class=\"hint\">\
             Per fold, never on its test speakers: a grid's point, an ensemble's kept members.</p>\n\
             <div class=\"table-wrap\">\n<table class=\"choices\">\n<thead><tr><th>experiment</th>\
             <th>protocol</th><th>chosen by</th><th>fold</th><th>chosen</th><th>validation UA</th></tr>\
             </thead>\n<tbody>\n",
        );
        for c in &input.choices {
            for f in &c.folds {
                let _ = writeln!(
                    h,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
                    e(&c.experiment),
                    e(&c.protocol),
                    e(&c.chosen_by),
                    e(&f.fold),
                    e(&f.chosen),
                    e(&f.scores())
                );
            }
        }
        h.push_str("</tbody>\n</table>\n</div>\n</section>\n");
    }

    if !input.rejects.is_empty() {
        let _ = writeln!(
            h,
            "<section id=\"rejects\">\n<h2>Rejected inputs</h2>\n<p class=\"hint\">{} input(s) left out, \
             each with the stage that rejected it and why; no experiment saw them.</p>\n\
             <div class=\"table-wrap\">\n<table class=\"rejects\">\n<thead><tr><th>stage</th><th>file</th>\
             <th>code</th><th>reason</th></tr></thead>\n<tbody>",
            input.rejects.len()
        );
        for r in &input.rejects {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                e(&r.stage),
                e(&r.path),
                e(&r.code),
                e(&r.reason)
            );
        }
        h.push_str("</tbody>\n</table>\n</div>\n</section>\n");
    }

    if let Some(corpora) = &input.corpora {
        corpora_section(&mut h, corpora);
    }

    // One section per experiment, best first.
    for entry in entries {
        section(&mut h, entry);
    }
    let _ = write!(h, "</main>\n<script>{SCRIPT}</script>\n</body>\n</html>\n");
    h
}

fn section(h: &mut String, entry: &Entry<'_>) {
    let e = escape_html;
    let x = entry.exp;
    let _ = write!(
        h,
        "<section class=\"experiment\" id=\"exp-{}\">\n<h2><span class=\"rank\">#{}</span> {}</h2>\n",
        e(&entry.slug),
        entry.rank,
        e(&x.name)
    );
    let _ = write!(
        h,
        "<p class=\"facts\">features <b>{}</b> · selection <b>{}</b> · model <b>{}</b> · protocol <b>{}</b> \
         · n = {} · node <code>{}</code></p>\n<div class=\"scores\">",
        e(&x.features),
        e(&x.selection),
        e(&x.model),
        e(&x.protocol),
        x.n_test,
        e(&x.node_key)
    );
    for (label, v, ci) in [
        ("UA", x.ua, x.ua_ci),
        ("WA", x.wa, x.wa_ci),
        ("macro-F1", x.macro_f1, x.macro_f1_ci),
    ] {
        let _ = write!(
            h,
            "<div class=\"score\"><span class=\"label\">{label}</span><span class=\"value\">{}</span>{}</div>",
            metric(v),
            ci_span(ci)
        );
    }
    h.push_str("</div>\n<div class=\"figures\">\n");
    for fig in &entry.figures {
        let data = base64::engine::general_purpose::STANDARD.encode(&fig.figure.png);
        let file = format!("img/{}_{}", entry.slug, fig.kind);
        let _ = writeln!(
            h,
            "<figure class=\"fig-{kind}\"><img src=\"data:image/png;base64,{data}\" width=\"{w}\" height=\"{hh}\" \
             alt=\"{alt}\"><figcaption>{cap} <span class=\"files\"><a href=\"{file}.png\">PNG</a> · \
             <a href=\"{file}.svg\">SVG</a></span></figcaption></figure>",
            kind = fig.kind,
            w = fig.figure.width,
            hh = fig.figure.height,
            alt = e(&format!("{} of {}", fig.kind.replace('_', "-"), x.name)),
            cap = e(&fig.caption),
            file = e(&file),
        );
    }
    h.push_str("</div>\n");
    if !x.per_class.is_empty() {
        h.push_str(
            "<details><summary>Per-class scores</summary>\n<table class=\"per-class\"><thead><tr>\
             <th>class</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr></thead><tbody>\n",
        );
        for (class, s) in x.classes.iter().zip(&x.per_class) {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
                 <td class=\"num\">{}</td></tr>",
                e(class),
                metric(s.precision),
                metric(s.recall),
                metric(s.f1),
                s.support
            );
        }
        h.push_str("</tbody></table>\n</details>\n");
    }
    h.push_str("<p class=\"back\"><a href=\"#matrix\">↑ experiment matrix</a></p>\n</section>\n");
}

/// `0.449 <span class="ci">[0.42, 0.48]</span>`: the interval set smaller
/// so a column of values stays easy to scan.
/// What the results table's marks and intervals mean, a line each (empty
/// when there is nothing to say); both documents print them.
pub(crate) fn notes(experiments: &[&crate::ExperimentResult]) -> String {
    let mut out = String::new();
    let units: std::collections::BTreeSet<&str> = experiments
        .iter()
        .filter(|x| x.ua_ci.is_some())
        .filter_map(|x| x.ci_unit.as_deref())
        .collect();
    match units.iter().copied().collect::<Vec<_>>().as_slice() {
        ["speaker"] => out.push_str(
            "Intervals: 95% bootstrap over test speakers within folds (each speaker with all its utterances).\n",
        ),
        ["utterance"] => out.push_str(
            "Intervals: 95% bootstrap over single test utterances within folds (treats a speaker's utterances as independent, so narrower than a speaker bootstrap).\n",
        ),
        [] => {}
        _ => out.push_str(
            "Intervals: 95% bootstrap over test speakers, or over single utterances for results evaluated before speaker intervals (narrower); rerun to make them alike.\n",
        ),
    }
    if experiments.iter().any(|x| x.transductive) {
        out.push_str(
            "(T) transductive: test speakers (or a test corpus) normalised by their own audio (normalize: speaker or corpus); not comparable with inductive results.\n",
        );
    }
    out
}

fn metric_html(v: f64, ci: Option<(f64, f64)>) -> String {
    format!("{}{}", metric(v), ci_span(ci))
}

fn ci_span(ci: Option<(f64, f64)>) -> String {
    interval(ci)
        .map(|i| format!(" <span class=\"ci\">{i}</span>"))
        .unwrap_or_default()
}

const CSS: &str = r#"
:root { --text:#212529; --muted:#6c757d; --line:#dee2e6; --bg:#fff; --accent:#0b5cad; --band:#f5f7fa; }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif; color:var(--text); background:var(--bg); }
header, main { max-width:1320px; margin:0 auto; padding:0 24px; }
header { padding-top:24px; padding-bottom:4px; }
h1 { font-size:26px; margin:0 0 4px; }
h2 { font-size:20px; margin:32px 0 8px; }
.meta, .hint, .facts, figcaption, .back { color:var(--muted); }
.meta { margin:0; } .best { margin:4px 0 8px; }
code { font:13px/1.4 ui-monospace,"DejaVu Sans Mono",monospace; background:var(--band); padding:1px 4px; border-radius:3px; word-break:break-all; }
a { color:var(--accent); text-decoration:none; } a:hover { text-decoration:underline; }
.table-wrap { overflow-x:auto; }
table { border-collapse:collapse; font-size:14px; }
#results { width:100%; }
th, td { padding:6px 8px; border-bottom:1px solid var(--line); text-align:left; white-space:nowrap; }
td.num { text-align:right; font-variant-numeric:tabular-nums; }
thead th { position:sticky; top:0; background:var(--band); font-weight:600; }
.sortable th { cursor:pointer; user-select:none; }
.sortable th:hover, .sortable th:focus { background:#e9ecef; outline:none; }
.sortable th::after { content:"\2195"; color:#adb5bd; margin-left:4px; font-size:12px; }
.sortable th[aria-sort=ascending]::after { content:"\25B2"; color:var(--accent); }
.sortable th[aria-sort=descending]::after { content:"\25BC"; color:var(--accent); }
tbody tr:nth-child(even) { background:#fafbfc; }
tbody tr:hover { background:#eef4fb; }
.ci { color:var(--muted); font-size:11.5px; }
.experiment { border-top:1px solid var(--line); margin-top:32px; }
.rank { color:var(--muted); font-weight:400; margin-right:4px; }
.scores { display:flex; gap:12px; flex-wrap:wrap; margin:8px 0 16px; }
.score { background:var(--band); border-radius:6px; padding:8px 14px; min-width:150px; }
.score .label { display:block; color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.04em; }
.score .value { font-size:22px; font-weight:600; font-variant-numeric:tabular-nums; margin-right:6px; }
.figures { display:flex; flex-wrap:wrap; gap:24px; align-items:flex-start; }
figure { margin:0; max-width:100%; }
figure img { max-width:100%; height:auto; border:1px solid var(--line); border-radius:4px; display:block; }
figcaption { font-size:13px; max-width:640px; margin-top:6px; }
details { margin:16px 0; } summary { cursor:pointer; color:var(--accent); }
.per-class td, .per-class th { padding:4px 12px; }
.empty { font-style:italic; }
"#;

/// Sorts the matrix on header click/Enter, marks the sorted column with
/// `aria-sort`, and records the order in `data-sorted-by` and the URL
/// fragment. `data-sort-ready` tells a headless browser (the tests) that
/// the script ran. Ties keep the UA rank order, so sorting is stable.
const SCRIPT: &str = r##"
(function () {
  "use strict";
  var table = document.getElementById("results");
  if (!table || !table.tHead) { return; }
  var body = table.tBodies[0];
  var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
  function value(row, i, numeric) {
    var cell = row.cells[i];
    var v = cell.getAttribute("data-value");
    if (numeric) { var x = parseFloat(v); return isNaN(x) ? -Infinity : x; }
    return (v === null ? cell.textContent : v).toLowerCase();
  }
  function rank(row) { return parseFloat(row.cells[0].getAttribute("data-value")); }
  function sortBy(key, dir) {
    var i = -1;
    heads.forEach(function (th, j) { if (th.getAttribute("data-key") === key) { i = j; } });
    if (i < 0) { return false; }
    var numeric = heads[i].getAttribute("data-type") === "num";
    var sign = dir === "asc" ? 1 : -1;
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = value(a, i, numeric), y = value(b, i, numeric);
      var c = x < y ? -1 : x > y ? 1 : 0;
      return c !== 0 ? sign * c : rank(a) - rank(b);
    });
    rows.forEach(function (r) { body.appendChild(r); });
    heads.forEach(function (th) { th.removeAttribute("aria-sort"); });
    heads[i].setAttribute("aria-sort", dir === "asc" ? "ascending" : "descending");
    table.setAttribute("data-sorted-by", key + ":" + dir);
    return true;
  }
  heads.forEach(function (th) {
    th.tabIndex = 0;
    function activate() {
      var key = th.getAttribute("data-key");
      var numeric = th.getAttribute("data-type") === "num";
      var first = numeric && key !== "rank" ? "desc" : "asc";
      var now = th.getAttribute("aria-sort");
      var dir = now ? (now === "ascending" ? "desc" : "asc") : first;
      sortBy(key, dir);
      try { history.replaceState(null, "", "#sort=" + key + ":" + dir); } catch (e) { /* file: URLs may refuse */ }
    }
    th.addEventListener("click", activate);
    th.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); activate(); }
    });
  });
  var m = /^#sort=([a-z0-9_-]+)(?::(asc|desc))?$/.exec(location.hash);
  if (m) { sortBy(m[1], m[2] || "desc"); }
  table.setAttribute("data-sort-ready", "true");
})();
"##;

/// Labels per corpus before and after the label set, and scores per test
/// corpus.
fn corpora_section(h: &mut String, corpora: &crate::Corpora) {
    let e = escape_html;
    let list = |counts: &[(String, usize)]| {
        counts
            .iter()
            .map(|(l, n)| format!("{} {n}", e(l)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    h.push_str(
        "<section id=\"corpora\">\n<h2>Corpora</h2>\n<div class=\"table-wrap\">\n<table>\n\
         <thead><tr><th>corpus</th><th>labels as the corpus names them</th>\
         <th>after the label set</th><th>excluded</th></tr></thead>\n<tbody>\n",
    );
    for c in &corpora.labels {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            e(&c.corpus),
            list(&c.before),
            list(&c.after),
            c.excluded
        );
    }
    h.push_str("</tbody>\n</table>\n</div>\n");
    if !corpora.results.is_empty() {
        h.push_str(
            "<h3>Per test corpus</h3>\n<div class=\"table-wrap\">\n<table>\n<thead><tr>\
             <th>experiment</th><th>protocol</th><th>test corpus</th><th>UA</th>\
             <th>UA 95% CI</th><th>WA</th><th>n</th></tr></thead>\n<tbody>\n",
        );
        for r in &corpora.results {
            let ci = r
                .ua_ci
                .map(|(l, u)| format!("[{l:.3}, {u:.3}]"))
                .unwrap_or_default();
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.4}</td><td>{ci}</td><td>{:.4}</td><td>{}</td></tr>",
                e(&r.experiment),
                e(&r.protocol),
                e(&r.corpus),
                r.ua,
                r.wa,
                r.n_test
            );
        }
        h.push_str("</tbody>\n</table>\n</div>\n");
    }
    h.push_str("</section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_covers_text_and_both_attribute_quotes() {
        assert_eq!(
            escape_html(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(escape_html("calm/ñeutral 0.5"), "calm/ñeutral 0.5");
    }

    #[test]
    fn page_has_no_url_of_its_own() {
        // The fixed parts (style and script) must not load anything either.
        for part in [CSS, SCRIPT] {
            assert!(!part.contains("http:") && !part.contains("https:") && !part.contains("url("));
        }
    }
}
