//! The report: Markdown for people (pasted into BENCHMARKS.md), JSON for tools, and the list
//! of targets with pass or miss.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use crate::load::Stats;

/// One target, judged.
#[derive(Clone, Debug, Serialize)]
pub struct Verdict {
    pub backend: String,
    pub target: String,
    pub measured: String,
    pub pass: bool,
}

#[derive(Default)]
pub struct Report {
    pub markdown: String,
    pub json: serde_json::Map<String, Value>,
    pub verdicts: Vec<Verdict>,
}

impl Report {
    pub fn line(&mut self, text: impl AsRef<str>) {
        self.markdown.push_str(text.as_ref());
        self.markdown.push('\n');
    }

    pub fn heading(&mut self, text: &str) {
        self.line("");
        self.line(text);
        self.line("");
    }

    pub fn table(&mut self, header: &[&str], rows: &[Vec<String>]) {
        self.line(format!("| {} |", header.join(" | ")));
        self.line(format!(
            "|{}|",
            header.iter().map(|_| " --- ").collect::<Vec<_>>().join("|")
        ));
        for row in rows {
            self.line(format!("| {} |", row.join(" | ")));
        }
    }

    pub fn record(&mut self, key: &str, value: impl Serialize) {
        self.json.insert(
            key.to_owned(),
            serde_json::to_value(value).unwrap_or(Value::Null),
        );
    }

    pub fn judge(&mut self, backend: &str, target: &str, measured: String, pass: bool) {
        self.verdicts.push(Verdict {
            backend: backend.to_owned(),
            target: target.to_owned(),
            measured,
            pass,
        });
    }

    pub fn verdict_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "| backend | target | measured | result |");
        let _ = writeln!(out, "| --- | --- | --- | --- |");
        for v in &self.verdicts {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                v.backend,
                v.target,
                v.measured,
                if v.pass { "pass" } else { "**MISS**" }
            );
        }
        out
    }

    pub fn write(&mut self, dir: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(dir)?;
        let verdicts = self.verdict_table();
        let markdown = format!("{}\n## Targets\n\n{verdicts}", self.markdown);
        std::fs::write(dir.join("report.md"), &markdown)?;
        self.record("verdicts", self.verdicts.clone());
        std::fs::write(
            dir.join("report.json"),
            serde_json::to_string_pretty(&Value::Object(self.json.clone()))?,
        )?;
        Ok(())
    }
}

pub fn f0(x: f64) -> String {
    format!("{x:.0}")
}

pub fn f1(x: f64) -> String {
    format!("{x:.1}")
}

pub fn f2(x: f64) -> String {
    format!("{x:.2}")
}

pub fn pct(x: f64) -> String {
    if x < 0.1 {
        format!("{:.1}%", x * 100.0)
    } else {
        format!("{:.0}%", x * 100.0)
    }
}

/// `rps (p50 / p99 ms)`.
pub fn cell(s: &Stats) -> String {
    format!("{} ({} / {})", f0(s.rps), f2(s.p50_ms), f2(s.p99_ms))
}

pub fn mib(kib: f64) -> String {
    format!("{:.1} MiB", kib / 1024.0)
}
