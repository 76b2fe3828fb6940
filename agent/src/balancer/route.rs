//! Routing rules (pure): which pool of endpoints serves a request, under which model name,
//! with which strategy.
//!
//! `config route` sections are tried in file order; the first whose `match_model` (alias or
//! glob), `match_group` and `match_prefer` all fit wins: its endpoints are the pool, its
//! `model` (if any) replaces the requested name upstream, its `strategy` (if any) overrides
//! the balancer's. Without a matching route, the pool is every endpoint whose `model` list
//! matches the requested name.

use crate::config::{Config, Prefer, Strategy};

/// What routing looks at in a request.
#[derive(Debug, Clone, Copy)]
pub struct RouteQuery<'a> {
    /// The `model` the client asked for.
    pub model: &'a str,
    /// The group of the device that asked.
    pub group: &'a str,
    /// The `X-Hearth-Prefer` header, if any.
    pub prefer: Option<Prefer>,
}

/// Where a request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// Indices into `Config::endpoints`, in the route's order.
    pub pool: Vec<usize>,
    /// The model name to send upstream.
    pub upstream_model: String,
    /// How to pick from the pool.
    pub strategy: Strategy,
    /// The route that matched, for logs (`None` = matched by endpoint model lists).
    pub route: Option<String>,
}

/// `*` matches any run of characters, `?` one character; anything else matches itself.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    // Runs on every request for every route: no allocation unless a pattern with wildcards
    // meets non-ASCII text (`?` stands for one character, not one byte).
    if !is_glob(pattern) {
        return pattern == text;
    }
    if pattern.is_ascii() && text.is_ascii() {
        return glob_slices(pattern.as_bytes(), text.as_bytes(), b'*', b'?');
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    glob_slices(&p, &t, '*', '?')
}

/// Iterative matcher with one backtrack point per `*` (linear in practice).
fn glob_slices<T: PartialEq + Copy>(p: &[T], t: &[T], any: T, one: T) -> bool {
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == one || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == any {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == any)
}

fn is_glob(s: &str) -> bool {
    s.contains('*') || s.contains('?')
}

/// Resolves a request to a pool; `Err` carries the model names that are available.
pub fn resolve(cfg: &Config, q: RouteQuery) -> Result<Resolution, Vec<String>> {
    let default_strategy = cfg
        .balancer
        .as_ref()
        .map_or(Strategy::LeastConnections, |b| b.strategy);
    for r in &cfg.routes {
        let model_ok = r
            .match_model
            .as_deref()
            .is_none_or(|m| glob_match(m, q.model));
        let group_ok = r.match_group.as_deref().is_none_or(|g| g == q.group);
        let prefer_ok = r.match_prefer.is_none_or(|p| Some(p) == q.prefer);
        if !(model_ok && group_ok && prefer_ok) {
            continue;
        }
        let pool: Vec<usize> = r
            .endpoints
            .iter()
            .filter_map(|name| cfg.endpoints.iter().position(|e| e.meta.name == *name))
            .collect();
        if pool.is_empty() {
            continue;
        }
        return Ok(Resolution {
            pool,
            upstream_model: r.model.clone().unwrap_or_else(|| q.model.to_string()),
            strategy: r.strategy.unwrap_or(default_strategy),
            route: Some(r.meta.name.clone()),
        });
    }
    let pool: Vec<usize> = (0..cfg.endpoints.len())
        .filter(|&i| {
            cfg.endpoints[i]
                .models
                .iter()
                .any(|m| glob_match(m, q.model))
        })
        .collect();
    if pool.is_empty() {
        return Err(available_models(cfg));
    }
    Ok(Resolution {
        pool,
        upstream_model: q.model.to_string(),
        strategy: default_strategy,
        route: None,
    })
}

/// The pool of route `name` for a request for `model` (a downgrade: the route is chosen by
/// name, its match conditions do not apply). `None` if the route has no usable endpoint.
pub fn resolve_named(cfg: &Config, name: &str, model: &str) -> Option<Resolution> {
    let r = cfg.routes.iter().find(|r| r.meta.name == name)?;
    let pool: Vec<usize> = r
        .endpoints
        .iter()
        .filter_map(|e| cfg.endpoints.iter().position(|x| x.meta.name == *e))
        .collect();
    if pool.is_empty() {
        return None;
    }
    let default_strategy = cfg
        .balancer
        .as_ref()
        .map_or(Strategy::LeastConnections, |b| b.strategy);
    Some(Resolution {
        pool,
        upstream_model: r.model.clone().unwrap_or_else(|| model.to_string()),
        strategy: r.strategy.unwrap_or(default_strategy),
        route: Some(r.meta.name.clone()),
    })
}

/// Model names a client can ask for: the endpoints' models and the routes' aliases (globs
/// are patterns, not names, and are left out), sorted, without duplicates.
pub fn available_models(cfg: &Config) -> Vec<String> {
    let mut out: Vec<String> = cfg
        .endpoints
        .iter()
        .flat_map(|e| e.models.iter())
        .chain(cfg.routes.iter().filter_map(|r| r.match_model.as_ref()))
        .filter(|m| !is_glob(m))
        .cloned()
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(src: &str) -> Config {
        let doc = crate::uci::Document::parse("hearth", src).unwrap();
        crate::config::from_package(doc.package(), "t".as_ref()).unwrap()
    }

    const SRC: &str = "
config balancer b
	list listen 127.0.0.1:8080
	option strategy round_robin
config endpoint openai
	option url https://api.openai.com/v1
	list model gpt-4o-mini
	list model 'gpt-4o'
config endpoint ollama
	option url http://192.168.1.5:11434/v1
	list model 'llama3*'
config endpoint spare
	option url http://192.168.1.6:11434/v1
	list model 'llama3.2:3b'
config route local
	option match_model cheap
	list endpoint ollama
	option model 'llama3.2:3b'
config route kids_fast
	option match_model 'gpt-*'
	option match_group kids
	option match_prefer latency
	list endpoint openai
	option strategy latency
config group kids
";

    fn q<'a>(model: &'a str, group: &'a str, prefer: Option<Prefer>) -> RouteQuery<'a> {
        RouteQuery {
            model,
            group,
            prefer,
        }
    }

    #[test]
    fn globs() {
        assert!(glob_match("gpt-4o*", "gpt-4o-mini"));
        assert!(glob_match("gpt-4o*", "gpt-4o"));
        assert!(glob_match("*", ""));
        assert!(glob_match("llama?.2*", "llama3.2:3b"));
        assert!(!glob_match("gpt-4o", "gpt-4o-mini"));
        assert!(!glob_match("a*b", "acd"));
        assert!(glob_match("a*b*c", "aXbYbZc"));
        // `?` is one character, also a multi-byte one; plain names compare whole.
        assert!(glob_match("caf?-*", "café-large"));
        assert!(!glob_match("caf?", "café!"));
        assert!(glob_match("modèle", "modèle"));
        assert!(!glob_match("modèle", "modele"));
        assert!(!glob_match("*è", "modèle"));
        assert!(glob_match("*è*", "modèle"));
    }

    #[test]
    fn alias_route_rewrites_model() {
        let c = cfg(SRC);
        let r = resolve(&c, q("cheap", "default", None)).unwrap();
        assert_eq!(r.pool, [1]);
        assert_eq!(r.upstream_model, "llama3.2:3b");
        assert_eq!(r.route.as_deref(), Some("local"));
        assert_eq!(r.strategy, Strategy::RoundRobin);
    }

    #[test]
    fn route_needs_group_and_prefer_to_match() {
        let c = cfg(SRC);
        let r = resolve(&c, q("gpt-4o", "kids", Some(Prefer::Latency))).unwrap();
        assert_eq!(
            (r.route.as_deref(), r.strategy),
            (Some("kids_fast"), Strategy::Latency)
        );
        // Another group, or no header: falls through to endpoints serving the model.
        let r = resolve(&c, q("gpt-4o", "adults", Some(Prefer::Latency))).unwrap();
        assert_eq!((r.route, r.pool), (None, vec![0]));
        let r = resolve(&c, q("gpt-4o", "kids", None)).unwrap();
        assert_eq!(r.route, None);
    }

    #[test]
    fn without_route_every_serving_endpoint_is_in_the_pool() {
        let c = cfg(SRC);
        let r = resolve(&c, q("llama3.2:3b", "default", None)).unwrap();
        assert_eq!(r.pool, [1, 2]);
        assert_eq!(r.upstream_model, "llama3.2:3b");
    }

    #[test]
    fn unknown_model_lists_what_exists() {
        let c = cfg(SRC);
        let avail = resolve(&c, q("claude", "default", None)).unwrap_err();
        assert_eq!(avail, ["cheap", "gpt-4o", "gpt-4o-mini", "llama3.2:3b"]);
    }
}
