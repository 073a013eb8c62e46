//! `README.md`: the experiment matrix as a Markdown table sorted by UA, with
//! links to each experiment's figure files under `img/`, for reading the
//! results where HTML is not rendered (a terminal, a code review, a Git
//! forge's file view).

use std::fmt::Write;

use crate::format::{metric_ci, short_key};
use crate::{Entry, ReportInput};

/// Escapes text for a Markdown table cell: characters that would end the
/// cell (`|`), start markup (`*`, `_`, `` ` ``, `[`, `]`, `<`, `#`) or
/// escape (`\`) are backslash-escaped, and line breaks become spaces.
pub(crate) fn escape_md(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '|' | '*' | '_' | '`' | '[' | ']' | '<' | '>' | '#' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

pub(crate) fn render(input: &ReportInput, entries: &[Entry<'_>]) -> String {
    let md = escape_md;
    let mut s = String::new();
    let _ = writeln!(s, "# {}\n", md(&input.title));
    let _ = writeln!(
        s,
        "Config `{}`. {} experiment{}, best UA first. UA: unweighted average recall; WA: accuracy; \
         both and macro-F1 averaged over folds, with the confidence interval in brackets where \
         computed. `index.html` is the same report with the figures inline.\n",
        input.config_hash.replace('`', "'"),
        entries.len(),
        if entries.len() == 1 { "" } else { "s" }
    );
    if entries.is_empty() {
        s.push_str("No experiments were evaluated.\n");
        return s;
    }
    s.push_str("| # | experiment | protocol | UA | WA | macro-F1 | n | node key | figures |\n");
    s.push_str("|--:|---|---|--:|--:|--:|--:|---|---|\n");
    for entry in entries {
        let x = entry.exp;
        let figures: Vec<String> = entry
            .figures
            .iter()
            .map(|f| {
                format!(
                    "[{}](img/{}_{}.png)",
                    f.kind.replace('_', " "),
                    entry.slug,
                    f.kind
                )
            })
            .collect();
        let transductive = if x.transductive { " (T)" } else { "" };
        let _ = writeln!(
            s,
            "| {} | {}{} | {} | {} | {} | {} | {} | `{}` | {} |",
            entry.rank,
            md(&x.name),
            transductive,
            md(&x.protocol),
            metric_ci(x.ua, x.ua_ci),
            metric_ci(x.wa, x.wa_ci),
            metric_ci(x.macro_f1, x.macro_f1_ci),
            x.n_test,
            // Short, as in the page's table (index.html has the whole key).
            // Code spans take no escapes; a backtick would end one early.
            short_key(&x.node_key).replace('`', "'").replace('|', "\\|"),
            figures.join(" · ")
        );
    }
    let notes = crate::html::notes(&entries.iter().map(|x| x.exp).collect::<Vec<_>>());
    if !notes.is_empty() {
        let _ = write!(s, "\n{notes}");
    }
    if let Some(corpora) = &input.corpora {
        let list = |counts: &[(String, usize)]| {
            counts
                .iter()
                .map(|(l, n)| format!("{} {n}", md(l)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            s,
            "\n## Corpora\n\n| corpus | labels as the corpus names them | after the label set | excluded |\n|---|---|---|---|"
        );
        for c in &corpora.labels {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} |",
                md(&c.corpus),
                list(&c.before),
                list(&c.after),
                c.excluded
            );
        }
        if !corpora.results.is_empty() {
            let _ = writeln!(
                s,
                "\n### Per test corpus\n\n| experiment | protocol | test corpus | UA | UA 95% CI | WA | n |\n|---|---|---|---|---|---|---|"
            );
            for r in &corpora.results {
                let ci = r
                    .ua_ci
                    .map(|(l, u)| format!("[{l:.3}, {u:.3}]"))
                    .unwrap_or_default();
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {:.4} | {ci} | {:.4} | {} |",
                    md(&r.experiment),
                    md(&r.protocol),
                    md(&r.corpus),
                    r.ua,
                    r.wa,
                    r.n_test
                );
            }
        }
    }
    if !input.choices.is_empty() {
        let _ = writeln!(
            s,
            "\n## Chosen inside the training folds\n\nPer fold, never on its test speakers.\n\n\
             | experiment | protocol | chosen by | fold | chosen | validation UA |\n|---|---|---|---|---|---|"
        );
        for c in &input.choices {
            for f in &c.folds {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} | {} |",
                    md(&c.experiment),
                    md(&c.protocol),
                    md(&c.chosen_by),
                    md(&f.fold),
                    md(&f.chosen),
                    f.scores()
                );
            }
        }
    }
    if !input.rejects.is_empty() {
        let _ = writeln!(
            s,
            "\n## Rejected inputs\n\n{} input(s) left out; no experiment saw them.\n\n\
             | stage | file | code | reason |\n|---|---|---|---|",
            input.rejects.len()
        );
        for r in &input.rejects {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} |",
                md(&r.stage),
                md(&r.path),
                md(&r.code),
                md(&r.reason)
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cell_text_cannot_break_the_table() {
        assert_eq!(escape_md("a|b"), r"a\|b");
        assert_eq!(
            escape_md("gaussian_nb *x* [l](u) <i>"),
            r"gaussian\_nb \*x\* \[l\](u) \<i\>"
        );
        assert_eq!(escape_md("two\nlines"), "two lines");
    }
}
