//! An app file (TOML, kept in the app's own repository): what `berth app apply FILE` reads. The
//! keys are the issue's contract; unknown keys are refused with their name, and every value is
//! checked before anything is stored. [`AppSpec::for_env`] applies an environment's overlay.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::placement::{Constraint, Strategy, MAX_REPLICAS};

/// The most CPUs one replica may reserve.
pub const MAX_CPUS: f64 = 1024.0;
/// The longest health interval, start period or monitor time (a day).
pub const MAX_WAIT: Duration = Duration::from_secs(86_400);

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AppSpec {
    pub name: String,
    /// The base image OPS maintains.
    pub image: String,
    #[serde(default)]
    pub command: Vec<String>,
    #[serde(default = "one")]
    pub replicas: u32,
    pub package: Option<Package>,
    #[serde(default)]
    pub resources: Resources,
    #[serde(default)]
    pub placement: Placement,
    pub health: Option<Health>,
    #[serde(default)]
    pub update: Update,
    /// Per-environment overlays, by environment name.
    #[serde(default)]
    pub env: BTreeMap<String, EnvOverlay>,
}

fn one() -> u32 {
    1
}

/// The app package, put into each container before it starts.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Package {
    /// A local file, folder or tar(.gz), relative to the app file.
    pub source: PathBuf,
    /// Where it goes in the container.
    pub path: String,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    /// Reserved and limited, e.g. 0.5.
    pub cpus: Option<f64>,
    /// E.g. "256MiB", "1GiB", "512m".
    pub memory: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Placement {
    #[serde(default)]
    pub pools: Vec<String>,
    #[serde(default)]
    pub constraints: Vec<String>,
    /// "spread" (the default) or "binpack".
    pub strategy: Option<String>,
    pub max_per_host: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Health {
    pub cmd: Vec<String>,
    pub interval: Option<String>,
    pub retries: Option<u32>,
    pub start_period: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Update {
    pub parallelism: Option<u32>,
    /// "stop-first" (the default) or "start-first".
    pub order: Option<String>,
    /// "rollback" (the default) or "pause".
    pub failure_action: Option<String>,
    /// Healthy this long before the next batch, e.g. "10s".
    pub monitor: Option<String>,
}

/// An environment's overlay: its variables and files, and what it changes of the placement.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EnvOverlay {
    /// Values written `keyring:NAME` come from the OS keyring at deploy time.
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
    /// Container path → local file, relative to the app file.
    #[serde(default)]
    pub files: BTreeMap<String, PathBuf>,
    pub replicas: Option<u32>,
    pub pools: Option<Vec<String>>,
    pub constraints: Option<Vec<String>>,
}

/// One environment of an app, with every default filled in and every value parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Effective {
    pub name: String,
    pub env: String,
    pub image: String,
    pub command: Vec<String>,
    pub replicas: u32,
    pub package: Option<(PathBuf, String)>,
    pub cpus: f64,
    pub memory: u64,
    pub pools: Vec<String>,
    pub constraints: Vec<Constraint>,
    pub strategy: Strategy,
    pub max_per_host: Option<u32>,
    pub health: Option<(Vec<String>, Duration, u32, Duration)>,
    pub parallelism: u32,
    pub start_first: bool,
    pub rollback: bool,
    pub monitor: Duration,
    pub vars: BTreeMap<String, String>,
    pub files: BTreeMap<String, PathBuf>,
}

fn bad(key: &str, reason: impl Into<String>) -> Error {
    Error::InvalidInput { what: "app file", reason: format!("{key}: {}", reason.into()) }
}

/// An app secret's name (`keyring:NAME`): letters, digits, `.`, `_`, `-`, at most 128.
pub fn validate_secret_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 128 || !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')) {
        return Err(Error::invalid("secret name", format!("{name:?}; use letters, digits, . _ - (at most 128)")));
    }
    Ok(())
}

/// A size as Docker's CLI and Kubernetes write it: `256MiB`, `1GiB`, `512m`, `1.5g`, `1048576`.
pub fn parse_size(key: &str, text: &str) -> Result<u64> {
    let t = text.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => return Err(bad(key, format!("{text:?} is not a size; write e.g. 256MiB or 1GiB"))),
    };
    let value: f64 = number.parse().map_err(|_| bad(key, format!("{text:?} is not a size; write e.g. 256MiB or 1GiB")))?;
    let bytes = value * factor as f64;
    if !bytes.is_finite() || bytes < 1.0 || bytes > (1u64 << 50) as f64 {
        return Err(bad(key, format!("{text:?} is out of range (1 byte to 1 PiB)")));
    }
    Ok(bytes as u64)
}

fn parse_wait(key: &str, text: &str) -> Result<Duration> {
    let d = humantime::parse_duration(text.trim()).map_err(|e| bad(key, format!("{text:?}: {e}; write e.g. 2s, 500ms or 1m")))?;
    if d > MAX_WAIT {
        return Err(bad(key, format!("{text:?} is longer than a day")));
    }
    Ok(d)
}

fn check_replicas(key: &str, n: u32) -> Result<u32> {
    if n > MAX_REPLICAS {
        return Err(bad(key, format!("{n} is more than the {MAX_REPLICAS} an app may have")));
    }
    Ok(n)
}

impl AppSpec {
    /// Read an app file; unknown keys and wrong types are refused with the key and its line.
    pub fn parse(text: &str) -> Result<AppSpec> {
        let spec: AppSpec = toml::from_str(text).map_err(|e| Error::InvalidInput { what: "app file", reason: e.to_string().trim().replace('\n', " ") })?;
        spec.check()?;
        Ok(spec)
    }

    /// Read and check the app file at `path` (its package and files must exist beside it).
    pub fn load(path: &Path) -> Result<(AppSpec, PathBuf)> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io { context: format!("reading {}", path.display()), source })?;
        let spec = AppSpec::parse(&text)?;
        let base = path.parent().map(Path::to_owned).unwrap_or_else(|| PathBuf::from("."));
        spec.check_files(&base)?;
        Ok((spec, base))
    }

    /// Everything that can be checked without the file system or the store.
    fn check(&self) -> Result<()> {
        crate::containers::validate_name(&self.name)
            .map_err(|_| bad("name", format!("{:?} must be 2-128 letters, digits, '_', '.' or '-', starting with a letter or digit", self.name)))?;
        if self.image.trim().is_empty() {
            return Err(bad("image", "give the base image, e.g. base/jre:8"));
        }
        crate::images::Reference::parse(&self.image).map_err(|e| bad("image", e.to_string()))?;
        for env in self.env.keys() {
            if env.is_empty() || !env.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                return Err(bad(&format!("env.{env}"), "an environment name is letters, digits, '-' and '_'"));
            }
            self.for_env(env)?;
        }
        if self.env.is_empty() {
            self.effective(None)?;
        }
        Ok(())
    }

    fn check_files(&self, base: &Path) -> Result<()> {
        if let Some(package) = &self.package {
            let source = base.join(&package.source);
            if !source.exists() {
                return Err(bad("package.source", format!("{} does not exist (it is read relative to the app file)", source.display())));
            }
        }
        for (env, overlay) in &self.env {
            for (target, file) in &overlay.files {
                let local = base.join(file);
                if !local.is_file() {
                    return Err(bad(
                        &format!("env.{env}.files.\"{target}\""),
                        format!("{} is not a file (it is read relative to the app file)", local.display()),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Environment `env` with every default filled in; an environment the file does not name
    /// is refused with the ones it does.
    pub fn for_env(&self, env: &str) -> Result<Effective> {
        match self.env.get(env) {
            Some(overlay) => self.effective(Some((env, overlay))),
            None if self.env.is_empty() => self.effective(None).map(|e| Effective { env: env.to_owned(), ..e }),
            None => {
                Err(bad("env", format!("{env:?} is not an environment of {}; it has {}", self.name, self.env.keys().cloned().collect::<Vec<_>>().join(", "))))
            }
        }
    }

    fn effective(&self, overlay: Option<(&str, &EnvOverlay)>) -> Result<Effective> {
        let (env, o) = match overlay {
            Some((env, o)) => (env.to_owned(), Some(o)),
            None => ("default".to_owned(), None),
        };
        let at = |key: &str| if overlay.is_some() { format!("env.{env}.{key}") } else { key.to_owned() };
        let replicas = check_replicas(&at("replicas"), o.and_then(|o| o.replicas).unwrap_or(self.replicas))?;
        let cpus = self.resources.cpus.unwrap_or(0.0);
        if !(cpus.is_finite() && (0.0..=MAX_CPUS).contains(&cpus)) {
            return Err(bad("resources.cpus", format!("{cpus} is not a number of CPUs from 0 to {MAX_CPUS}")));
        }
        let memory = self.resources.memory.as_deref().map(|m| parse_size("resources.memory", m)).transpose()?.unwrap_or(0);
        let pools = o.and_then(|o| o.pools.clone()).unwrap_or_else(|| self.placement.pools.clone());
        if pools.is_empty() {
            return Err(bad(&at("pools"), "name at least one IP pool a replica may take its address from (placement.pools)"));
        }
        let constraints = o
            .and_then(|o| o.constraints.clone())
            .unwrap_or_else(|| self.placement.constraints.clone())
            .iter()
            .map(|c| Constraint::parse(c).map_err(|e| bad(&at("constraints"), e.to_string())))
            .collect::<Result<Vec<_>>>()?;
        let strategy = match self.placement.strategy.as_deref().unwrap_or("spread") {
            "spread" => Strategy::Spread,
            "binpack" => Strategy::Binpack,
            other => return Err(bad("placement.strategy", format!("{other:?}; use spread or binpack"))),
        };
        if self.placement.max_per_host == Some(0) {
            return Err(bad("placement.max_per_host", "0 would place nothing; give 1 or more, or leave it out"));
        }
        let health = match &self.health {
            None => None,
            Some(h) => {
                if h.cmd.is_empty() {
                    return Err(bad("health.cmd", "give the check's command, e.g. [\"sh\", \"-c\", \"test -f /app/ready\"]"));
                }
                let interval = h.interval.as_deref().map(|i| parse_wait("health.interval", i)).transpose()?.unwrap_or(Duration::from_secs(5));
                if interval.is_zero() {
                    return Err(bad("health.interval", "must be more than 0s"));
                }
                let start = h.start_period.as_deref().map(|i| parse_wait("health.start_period", i)).transpose()?.unwrap_or_default();
                Some((h.cmd.clone(), interval, h.retries.unwrap_or(3).clamp(1, 100), start))
            }
        };
        let parallelism = self.update.parallelism.unwrap_or(1);
        if parallelism == 0 {
            return Err(bad("update.parallelism", "give 1 or more replicas per batch"));
        }
        let start_first = match self.update.order.as_deref().unwrap_or("stop-first") {
            "stop-first" => false,
            "start-first" => true,
            other => return Err(bad("update.order", format!("{other:?}; use stop-first or start-first"))),
        };
        let rollback = match self.update.failure_action.as_deref().unwrap_or("rollback") {
            "rollback" => true,
            "pause" => false,
            other => return Err(bad("update.failure_action", format!("{other:?}; use rollback or pause"))),
        };
        let monitor = self.update.monitor.as_deref().map(|m| parse_wait("update.monitor", m)).transpose()?.unwrap_or(Duration::from_secs(5));
        let vars = o.map(|o| o.vars.clone()).unwrap_or_default();
        for (key, value) in &vars {
            if key.is_empty() || key.contains('=') || key.contains(char::is_whitespace) {
                return Err(bad(&at("vars"), format!("{key:?} is not a variable name")));
            }
            if let Some(name) = value.strip_prefix("keyring:") {
                if name.trim().is_empty() {
                    return Err(bad(&at(&format!("vars.{key}")), "keyring: needs the secret's name, e.g. keyring:shop-db"));
                }
                validate_secret_name(name)
                    .map_err(|_| bad(&at(&format!("vars.{key}")), format!("{name:?} is not a secret name; use letters, digits, . _ -")))?;
            }
        }
        let files = o.map(|o| o.files.clone()).unwrap_or_default();
        if let Some(bad_path) = files.keys().find(|p| !p.starts_with('/')) {
            return Err(bad(&at("files"), format!("{bad_path:?} must be an absolute path in the container")));
        }
        if let Some(package) = &self.package {
            if !package.path.starts_with('/') {
                return Err(bad("package.path", format!("{:?} must be an absolute path in the container", package.path)));
            }
        }
        Ok(Effective {
            name: self.name.clone(),
            env,
            image: self.image.clone(),
            command: self.command.clone(),
            replicas,
            package: self.package.as_ref().map(|p| (p.source.clone(), p.path.clone())),
            cpus,
            memory,
            pools,
            constraints,
            strategy,
            max_per_host: self.placement.max_per_host,
            health,
            parallelism,
            start_first,
            rollback,
            monitor,
            vars,
            files,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The issue's example, as written.
    const EXAMPLE: &str = r#"
name = "shop-web"
image = "base/jre:8"
command = ["sh", "-c", "exec /app/bin/start"]
replicas = 3
[package]
source = "dist/shop-web.tar.gz"
path = "/app"
[resources]
cpus = 0.5
memory = "256MiB"
[placement]
pools = ["lan-sh", "lan-bj"]
constraints = ["dc==sh"]
strategy = "spread"
max_per_host = 2
[health]
cmd = ["sh", "-c", "test -f /app/ready"]
interval = "2s"
retries = 3
start_period = "5s"
[update]
parallelism = 1
order = "stop-first"
failure_action = "rollback"
monitor = "10s"
[env.prod]
vars = { DB_URL = "jdbc:mysql://10.20.0.9/shop", DB_PASSWORD = "keyring:shop-db" }
files = { "/app/conf/app.properties" = "conf/prod.properties" }
[env.test]
replicas = 1
pools = ["lan-test"]
"#;

    #[test]
    fn the_issues_example_reads_as_written() {
        let spec = AppSpec::parse(EXAMPLE).unwrap();
        let prod = spec.for_env("prod").unwrap();
        assert_eq!((prod.replicas, prod.cpus, prod.memory), (3, 0.5, 256 << 20));
        assert_eq!(prod.pools, vec!["lan-sh", "lan-bj"]);
        assert_eq!(prod.constraints[0].to_string(), "dc==sh");
        assert_eq!(prod.health.as_ref().unwrap().1, Duration::from_secs(2));
        assert_eq!((prod.parallelism, prod.start_first, prod.rollback, prod.monitor), (1, false, true, Duration::from_secs(10)));
        assert_eq!(prod.vars["DB_PASSWORD"], "keyring:shop-db");
        let test = spec.for_env("test").unwrap();
        assert_eq!((test.replicas, test.pools.clone()), (1, vec!["lan-test".to_owned()]));
        assert!(test.vars.is_empty(), "the environments' variables differ");
        assert!(spec.for_env("stage").unwrap_err().to_string().contains("it has prod, test"));
    }

    #[test]
    fn bad_files_name_the_key_and_say_what_to_do() {
        let cases = [
            ("name = \"x1\"\nimage = \"b\"\ncolour = 1\n[placement]\npools=[\"p\"]", "unknown field `colour`"),
            ("name = \"x1\"\nimage = \"b\"\n[resources]\nmemory = \"lots\"\n[placement]\npools=[\"p\"]", "resources.memory: \"lots\" is not a size"),
            ("name = \"x1\"\nimage = \"b\"\n[resources]\ncpus = -1\n[placement]\npools=[\"p\"]", "resources.cpus"),
            ("name = \"x1\"\nimage = \"b\"\nreplicas = 1000000000\n[placement]\npools=[\"p\"]", "replicas: 1000000000 is more than the 100000"),
            ("name = \"x1\"\nimage = \"b\"", "pools: name at least one IP pool"),
            ("name = \"x1\"\nimage = \"b\"\n[placement]\npools=[\"p\"]\nstrategy = \"random\"", "placement.strategy: \"random\"; use spread or binpack"),
            ("name = \"x1\"\nimage = \"b\"\n[placement]\npools=[\"p\"]\nconstraints = [\"dc\"]", "constraints"),
            ("name = \"x1\"\nimage = \"b\"\n[placement]\npools=[\"p\"]\n[update]\norder = \"sideways\"", "update.order"),
            ("name = \"x1\"\nimage = \"b\"\n[placement]\npools=[\"p\"]\n[health]\ncmd = []", "health.cmd"),
            ("name = \"x1\"\nimage = \"b\"\n[placement]\npools=[\"p\"]\n[health]\ncmd = [\"true\"]\ninterval = \"forever\"", "health.interval"),
            ("name = \"x1\"\nimage = \"b\"\n[placement]\npools=[\"p\"]\n[env.prod]\nfiles = { \"relative\" = \"f\" }", "env.prod.files"),
            ("name = \"x1\"\nimage = \"b\"\n[placement]\npools=[\"p\"]\n[env.prod]\nvars = { A = \"keyring:\" }", "env.prod.vars.A"),
            ("name = \"-bad\"\nimage = \"b\"\n[placement]\npools=[\"p\"]", "name:"),
            ("name = \"x1\"\nimage = \"Bad Image\"\n[placement]\npools=[\"p\"]", "image:"),
            ("name = \"x1\"\nimage = \"b\"\nreplicas = \"three\"\n[placement]\npools=[\"p\"]", "replicas"),
        ];
        for (text, expected) in cases {
            let error = AppSpec::parse(text).unwrap_err().to_string();
            assert!(error.contains(expected), "{text:?}\n  gave {error}\n  wanted {expected}");
        }
    }

    #[test]
    fn sizes_read_as_docker_writes_them() {
        for (text, bytes) in [("256MiB", 256 << 20), ("1GiB", 1 << 30), ("512m", 512 << 20), ("1.5g", 3 << 29), ("1048576", 1 << 20), ("64 KiB", 64 << 10)] {
            assert_eq!(parse_size("memory", text).unwrap(), bytes, "{text}");
        }
        for bad in ["", "-1m", "0", "1x", "1e400g", "2PB"] {
            assert!(parse_size("memory", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_missing_package_or_file_is_refused_before_anything_is_stored() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("app.toml");
        std::fs::write(&file, EXAMPLE).unwrap();
        let error = AppSpec::load(&file).unwrap_err().to_string();
        assert!(error.contains("package.source") && error.contains("dist/shop-web.tar.gz"), "{error}");
        std::fs::create_dir_all(dir.path().join("dist")).unwrap();
        std::fs::write(dir.path().join("dist/shop-web.tar.gz"), b"x").unwrap();
        let error = AppSpec::load(&file).unwrap_err().to_string();
        assert!(error.contains("env.prod.files.\"/app/conf/app.properties\""), "{error}");
        std::fs::create_dir_all(dir.path().join("conf")).unwrap();
        std::fs::write(dir.path().join("conf/prod.properties"), b"k=v").unwrap();
        let (spec, base) = AppSpec::load(&file).unwrap();
        assert_eq!((spec.name.as_str(), base.as_path()), ("shop-web", dir.path()));
    }
}
