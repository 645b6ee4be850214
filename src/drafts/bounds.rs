//! Bounds on a repository's template overrides. Their text is written by whoever can push
//! to `.github/herald/templates/`, so it is checked before herald parses or renders it:
//! parsing and rendering recurse, and a cycle of includes or a deep nest would exhaust the
//! stack and end the process. Every bound holds by construction: the nesting is measured
//! on the text before the parser sees it, includes form a graph checked for cycles before
//! anything renders, and rendering stops at a size and a time.

use handlebars::template::{
    DecoratorTemplate, HelperTemplate, Parameter, Template, TemplateElement,
};
use std::collections::HashMap;
use std::io::{self, Write};
use std::time::{Duration, Instant};

/// The largest override read (the shipped templates are under 8 KiB).
pub const MAX_OVERRIDE_BYTES: usize = 64 * 1024;
/// Blocks (`{{#…}}`), subexpressions and includes nested in one another, counted through
/// includes: what rendering recurses on.
pub const MAX_NESTING: usize = 12;
/// `{{#each}}` blocks nested in one another, counted through includes: each one multiplies
/// the work by the length of a list, so two is the most (the shipped templates nest none).
pub const MAX_LOOP_NESTING: usize = 2;
/// The most a template renders: far above GitHub's 65,536-character bodies, which drafts
/// are fitted to afterwards.
pub const MAX_OUTPUT_BYTES: usize = 1024 * 1024;
/// The longest a template renders (checked as it writes and at each call of herald's
/// helpers).
pub const MAX_RENDER_TIME: Duration = Duration::from_secs(2);
/// The most elements a rendering may evaluate, counting each element inside a loop once
/// per item of the longest list in the data (to the power of the loops it is in), checked
/// before it starts: a loop of Handlebars' own helpers that writes nothing meets no
/// [`MAX_RENDER_TIME`] check, so this bounds it. About a second.
pub const MAX_RENDER_STEPS: u128 = 2_000_000;

/// How many elements a template has at each loop depth (0: outside any loop).
pub type Steps = [usize; MAX_LOOP_NESTING + 1];

/// Checks an override's text before the parser sees it: its size, and how deep its blocks
/// and parentheses nest (counted on the text, so a deep nest never reaches the parser's
/// recursion).
pub fn check_text(text: &str) -> Result<(), String> {
    if text.len() > MAX_OVERRIDE_BYTES {
        return Err(format!(
            "the override is {} bytes, more than the {MAX_OVERRIDE_BYTES} herald reads",
            text.len()
        ));
    }
    let deepest = lexical_nesting(text);
    if deepest > MAX_NESTING {
        return Err(too_deep(deepest));
    }
    Ok(())
}

fn too_deep(depth: usize) -> String {
    format!(
        "blocks, subexpressions and includes nest {depth} deep, more than the {MAX_NESTING} \
         herald renders"
    )
}

/// The deepest nest of `{{#`/`{{^` blocks (closed by `{{/`) and of parentheses inside
/// mustaches. It over-counts rather than under-counts: a block opened in a comment or a
/// raw block counts too.
fn lexical_nesting(text: &str) -> usize {
    let bytes = text.as_bytes();
    let (mut blocks, mut parens, mut deepest) = (0usize, 0usize, 0usize);
    let mut in_mustache = false;
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at..].starts_with(b"{{") {
            in_mustache = true;
            parens = 0;
            at += 2;
            while bytes
                .get(at)
                .is_some_and(|b| matches!(b, b'{' | b'~' | b' '))
            {
                at += 1;
            }
            match bytes.get(at) {
                Some(b'#' | b'^') => blocks += 1,
                Some(b'/') => blocks = blocks.saturating_sub(1),
                _ => {}
            }
        } else if bytes[at..].starts_with(b"}}") {
            in_mustache = false;
            at += 2;
        } else {
            if in_mustache {
                match bytes[at] {
                    b'(' => parens += 1,
                    b')' => parens = parens.saturating_sub(1),
                    _ => {}
                }
            }
            at += 1;
        }
        deepest = deepest.max(blocks + parens);
    }
    deepest
}

/// What rendering a parsed template costs, not counting what it includes, and the
/// templates it includes (with the nesting and loop depth each include is reached at).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shape {
    pub nesting: usize,
    pub loops: usize,
    pub steps: Steps,
    pub includes: Vec<Include>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Include {
    pub name: String,
    pub nesting: usize,
    pub loops: usize,
}

/// The shape of a parsed override. Includes must name a template literally: an include
/// whose name is computed while rendering, a partial block or a decorator (inline partials
/// among them) cannot be checked before rendering, so they are refused.
pub fn shape(template: &Template) -> Result<Shape, String> {
    let mut shape = Shape::default();
    walk(template, 0, 0, &mut shape)?;
    Ok(shape)
}

fn walk(
    template: &Template,
    nesting: usize,
    loops: usize,
    shape: &mut Shape,
) -> Result<(), String> {
    shape.nesting = shape.nesting.max(nesting);
    shape.loops = shape.loops.max(loops);
    template
        .elements
        .iter()
        .try_for_each(|element| walk_element(element, nesting, loops, shape))
}

fn walk_element(
    element: &TemplateElement,
    nesting: usize,
    loops: usize,
    shape: &mut Shape,
) -> Result<(), String> {
    shape.steps[loops.min(MAX_LOOP_NESTING)] += 1;
    match element {
        TemplateElement::RawString(_) | TemplateElement::Comment(_) => Ok(()),
        TemplateElement::Expression(helper) | TemplateElement::HtmlExpression(helper) => {
            parameters(helper, nesting, loops, shape)
        }
        TemplateElement::HelperBlock(helper) => {
            parameters(helper, nesting, loops, shape)?;
            let loops = loops + usize::from(helper.name.as_name() == Some("each"));
            [&helper.template, &helper.inverse]
                .into_iter()
                .flatten()
                .try_for_each(|inner| walk(inner, nesting + 1, loops, shape))
        }
        TemplateElement::PartialExpression(partial) => {
            shape.includes.push(Include {
                name: include_name(partial)?,
                nesting: nesting + 1,
                loops,
            });
            Ok(())
        }
        TemplateElement::PartialBlock(_) => {
            Err("partial blocks ({{#> …}}) are not allowed in an override".to_owned())
        }
        TemplateElement::DecoratorExpression(_) | TemplateElement::DecoratorBlock(_) => Err(
            "decorators and inline partials ({{* …}}, {{#* …}}) are not allowed in an override"
                .to_owned(),
        ),
        _ => Err("the override uses syntax herald does not check".to_owned()),
    }
}

/// Subexpressions nest like blocks (each is rendered by a recursive call).
fn parameters(
    helper: &HelperTemplate,
    nesting: usize,
    loops: usize,
    shape: &mut Shape,
) -> Result<(), String> {
    shape.nesting = shape.nesting.max(nesting);
    for parameter in helper.params.iter().chain(helper.hash.values()) {
        if let Parameter::Subexpression(inner) = parameter {
            shape.nesting = shape.nesting.max(nesting + 1);
            walk_element(&inner.element, nesting + 1, loops, shape)?;
        }
    }
    Ok(())
}

fn include_name(partial: &DecoratorTemplate) -> Result<String, String> {
    let name = match &partial.name {
        Parameter::Literal(value) => value.as_str(),
        name => name.as_name(),
    };
    match name {
        Some(name) if !name.starts_with('@') => Ok(name.to_owned()),
        _ => Err("an include ({{> …}}) must name a template literally".to_owned()),
    }
}

/// Checks the includes of a set of templates (`name` → its shape): each names a template of
/// the set, none reaches itself again, and nesting and loops stay within their bounds
/// counted through includes. Returns each template that breaks a bound, with why.
pub fn check_includes(shapes: &HashMap<String, Shape>) -> Vec<(String, String)> {
    let mut broken = Vec::new();
    let mut names: Vec<&String> = shapes.keys().collect();
    names.sort();
    for name in names {
        let mut path = vec![name.as_str()];
        if let Err(why) = reach(shapes, name, 0, 0, &mut path) {
            broken.push((name.clone(), why));
        }
    }
    broken
}

/// Follows `name`'s includes depth-first, reached at `nesting` and `loops`; `path` is the
/// chain of includes that led here. The depth of this recursion is bounded by
/// [`MAX_NESTING`], as each include adds one.
fn reach<'a>(
    shapes: &'a HashMap<String, Shape>,
    name: &str,
    nesting: usize,
    loops: usize,
    path: &mut Vec<&'a str>,
) -> Result<(), String> {
    let shape = shapes.get(name).ok_or_else(|| not_includable(name))?;
    let deepest = nesting + shape.nesting;
    if deepest > MAX_NESTING {
        return Err(too_deep(deepest));
    }
    if loops + shape.loops > MAX_LOOP_NESTING {
        return Err(format!(
            "{{{{#each}}}} blocks nest {} deep, more than the {MAX_LOOP_NESTING} herald renders",
            loops + shape.loops
        ));
    }
    for include in &shape.includes {
        if let Some(first) = path.iter().position(|seen| *seen == include.name) {
            let cycle = path[first..]
                .iter()
                .chain([&include.name.as_str()])
                .copied()
                .collect::<Vec<_>>()
                .join(" → ");
            return Err(format!("its includes form a cycle: {cycle}"));
        }
        let Some((included, _)) = shapes.get_key_value(include.name.as_str()) else {
            return Err(not_includable(&include.name));
        };
        path.push(included.as_str());
        reach(
            shapes,
            included,
            nesting + include.nesting,
            loops + include.loops,
            path,
        )?;
        path.pop();
    }
    Ok(())
}

fn not_includable(name: &str) -> String {
    format!(
        "it includes {name}, which is not a template an override may include (one of the same \
         kind, not one of herald's own)"
    )
}

/// The elements `name` evaluates at each loop depth, its includes' counted in (shifted by
/// the loops each is reached in). The includes must have passed [`check_includes`].
pub fn steps(shapes: &HashMap<String, Shape>, name: &str) -> Steps {
    let mut total = Steps::default();
    add_steps(shapes, name, 0, 0, &mut total);
    total
}

fn add_steps(
    shapes: &HashMap<String, Shape>,
    name: &str,
    loops: usize,
    nesting: usize,
    total: &mut Steps,
) {
    let Some(shape) = shapes.get(name).filter(|_| nesting <= MAX_NESTING) else {
        return;
    };
    for (depth, count) in shape.steps.iter().enumerate() {
        total[(depth + loops).min(MAX_LOOP_NESTING)] += count;
    }
    for include in &shape.includes {
        add_steps(
            shapes,
            &include.name,
            loops + include.loops,
            nesting + include.nesting,
            total,
        );
    }
}

/// Checks that rendering a template of `steps` over data whose longest list has `longest`
/// items stays within [`MAX_RENDER_STEPS`].
pub fn check_steps(steps: &Steps, longest: usize) -> Result<(), String> {
    let items = longest.max(1) as u128;
    let total: u128 = steps
        .iter()
        .zip(0u32..)
        .map(|(count, depth)| (*count as u128).saturating_mul(items.saturating_pow(depth)))
        .fold(0, u128::saturating_add);
    if total > MAX_RENDER_STEPS {
        return Err(format!(
            "rendering it would evaluate about {total} elements (its loops over lists of up to \
             {longest} items), more than the {MAX_RENDER_STEPS} herald renders"
        ));
    }
    Ok(())
}

/// The length of the longest list (or object) anywhere in `value`.
pub fn longest_list(value: &serde_json::Value) -> usize {
    match value {
        serde_json::Value::Array(items) => {
            items.iter().map(longest_list).fold(items.len(), usize::max)
        }
        serde_json::Value::Object(members) => members
            .values()
            .map(longest_list)
            .fold(members.len(), usize::max),
        _ => 0,
    }
}

/// Where a template renders to: a string that refuses to grow past [`MAX_OUTPUT_BYTES`].
/// While it lives, the rendering under way on this thread has [`MAX_RENDER_TIME`], which
/// the output checks as it is written and herald's helpers as they are called (rendering
/// is one call on one thread).
pub struct BoundedOutput {
    text: Vec<u8>,
}

thread_local! {
    static DEADLINE: std::cell::Cell<Option<Instant>> = const { std::cell::Cell::new(None) };
}

impl BoundedOutput {
    pub fn new() -> BoundedOutput {
        DEADLINE.set(Some(Instant::now() + MAX_RENDER_TIME));
        BoundedOutput { text: Vec::new() }
    }

    pub fn into_string(self) -> String {
        String::from_utf8_lossy(&self.text).into_owned()
    }
}

impl Drop for BoundedOutput {
    fn drop(&mut self) {
        DEADLINE.set(None);
    }
}

/// Whether the rendering under way on this thread may go on.
pub fn within_render_time() -> Result<(), String> {
    match DEADLINE.get() {
        Some(until) if Instant::now() > until => Err(format!(
            "rendering takes longer than {} s",
            MAX_RENDER_TIME.as_secs()
        )),
        _ => Ok(()),
    }
}

impl Write for &mut BoundedOutput {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if self.text.len() + bytes.len() > MAX_OUTPUT_BYTES {
            return Err(io::Error::other(format!(
                "the output passes {MAX_OUTPUT_BYTES} bytes"
            )));
        }
        within_render_time().map_err(io::Error::other)?;
        self.text.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape_of(text: &str) -> Result<Shape, String> {
        check_text(text)?;
        let template = Template::compile(text).map_err(|error| error.to_string())?;
        shape(&template)
    }

    fn shapes(templates: &[(&str, &str)]) -> HashMap<String, Shape> {
        templates
            .iter()
            .map(|(name, text)| ((*name).to_owned(), shape_of(text).expect("shape")))
            .collect()
    }

    #[test]
    fn a_cycle_of_includes_is_named() {
        let broken = check_includes(&shapes(&[
            ("advisory-issue.md", "x{{> forum-post.md}}"),
            ("forum-post.md", "x{{> advisory-issue.md}}"),
            ("wiki-page.md", "plain"),
        ]));
        assert_eq!(
            broken,
            [
                (
                    "advisory-issue.md".to_owned(),
                    "its includes form a cycle: advisory-issue.md → forum-post.md → advisory-issue.md"
                        .to_owned()
                ),
                (
                    "forum-post.md".to_owned(),
                    "its includes form a cycle: forum-post.md → advisory-issue.md → forum-post.md"
                        .to_owned()
                ),
            ]
        );
    }

    #[test]
    fn includes_count_towards_nesting_and_loops() {
        let loop_in = "{{#each a}}{{> inner}}{{/each}}";
        let broken = check_includes(&shapes(&[
            ("outer", loop_in),
            ("inner", "{{#each c}}{{#each d}}x{{/each}}{{/each}}"),
        ]));
        assert_eq!(broken.len(), 1, "{broken:?}");
        assert!(broken[0].1.contains("nest 3 deep"), "{broken:?}");
        let fine = check_includes(&shapes(&[
            ("outer", loop_in),
            ("inner", "{{#each c}}x{{/each}}"),
        ]));
        assert_eq!(fine, []);
        let missing = check_includes(&shapes(&[("outer", "{{> nowhere}}")]));
        assert!(missing[0].1.contains("includes nowhere"), "{missing:?}");
    }

    #[test]
    fn what_cannot_be_checked_before_rendering_is_refused() {
        for text in [
            "{{> (lookup this \"name\")}}",
            "{{#> layout}}x{{/layout}}",
            "{{#*inline \"me\"}}{{> me}}{{/inline}}{{> me}}",
            "{{> @partial-block}}",
        ] {
            assert!(shape_of(text).is_err(), "{text}");
        }
    }

    #[test]
    fn a_deep_nest_is_refused_before_parsing() {
        let deep = "{{#if a}}".repeat(4_000) + &"{{/if}}".repeat(4_000);
        let refused = check_text(&deep).expect_err("deep");
        assert!(refused.contains("4000 deep"), "{refused}");
        let parens = format!("{{{{x {}a{}}}}}", "(".repeat(5_000), ")".repeat(5_000));
        assert!(check_text(&parens).is_err());
        let big = "x".repeat(MAX_OVERRIDE_BYTES + 1);
        assert!(check_text(&big).is_err());
        assert_eq!(
            check_text("{{#if a}}{{#each b}}{{x (y (z))}}{{/each}}{{/if}}"),
            Ok(())
        );
    }

    #[test]
    fn output_stops_at_its_bound() {
        let mut output = BoundedOutput::new();
        let mut writer = &mut output;
        let chunk = vec![b'x'; 1024];
        let written = (0..2048)
            .take_while(|_| writer.write_all(&chunk).is_ok())
            .count();
        assert_eq!(written, MAX_OUTPUT_BYTES / 1024);
    }
}
