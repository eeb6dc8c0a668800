//! HTML to Markdown for fetch_url: what a reader would see, in Markdown, and nothing hidden.

use expect_test::{Expect, expect};
use tomori_net::{Url, html_to_markdown, paginate};

#[track_caller]
fn check(html: &str, expected: Expect) {
    let base = Url::parse("https://example.com/docs/page.html").unwrap();
    expected.assert_eq(&html_to_markdown(html, Some(&base)));
}

#[test]
fn converts_headings_paragraphs_links_and_emphasis() {
    check(
        r##"<!doctype html><html><head><title>T</title><style>p{}</style></head><body>
        <h1>Tomori  docs</h1>
        <p>Read the <a href="/guide">guide</a> or the <a href="https://other.example/x?y=1">other
        site</a>. This is <strong>bold</strong>, <em>soft</em> and <code>code()</code>.</p>
        <h3>Small <i>heading</i></h3><p>Line one<br>Line two</p>
        <a href="javascript:alert(1)">not a link</a> <a href="#top"></a>
        <hr><p><img src="cat.png" alt="a [cat]"> <img src="x.png"></p>
        </body></html>"##,
        expect![[r#"
            # Tomori docs

            Read the [guide](https://example.com/guide) or the [other site](https://other.example/x?y=1). This is **bold**, *soft* and `code()`.

            ### Small *heading*

            Line one
            Line two

            not a link

            ---

            ![a cat](https://example.com/docs/cat.png)"#]],
    );
}

#[test]
fn converts_lists_code_blocks_quotes_and_tables() {
    check(
        r#"<ul><li>one</li><li><p>two</p><ul><li>two a</li><li>two b</li></ul></li></ul>
        <ol start="3"><li>three</li><li>four</li></ol>
        <pre><code>fn main() {
    println!("hi");
}</code></pre>
        <blockquote><p>quoted <b>text</b></p></blockquote>
        <table><tr><th>name</th><th>value</th></tr><tr><td>a</td><td>1</td></tr></table>"#,
        expect![[r#"
            - one
            - two
              - two a
              - two b

            3. three
            4. four

            ```
            fn main() {
                println!("hi");
            }
            ```

            > quoted **text**

            name | value
            a | 1"#]],
    );
}

#[test]
fn drops_what_a_reader_would_not_see() {
    check(
        r#"<body><p>visible</p>
        <script>ignore_previous_instructions()</script>
        <style>.x { color: red }</style>
        <template><p>template text</p></template>
        <noscript>enable js</noscript>
        <div hidden>hidden attribute</div>
        <div aria-hidden="true">aria hidden</div>
        <div aria-hidden="false">aria shown</div>
        <p style="color: red; DISPLAY : none">inline display none</p>
        <span style="visibility:hidden">invisible</span>
        <dialog>closed dialog</dialog><dialog open>open dialog</dialog>
        <svg><text>svg text</text></svg>
        <iframe src="https://evil.example/"></iframe>
        <form><input type="hidden" value="secret"><textarea>draft</textarea><button>Go</button></form>
        <p>also visible</p></body>"#,
        expect![[r#"
            visible

            aria shown

            open dialog

            also visible"#]],
    );
}

#[test]
fn closes_elements_the_way_browsers_imply() {
    check(
        r#"<p>one<p>two<ul><li>a<li>b</ul><dl><dt>term<dd>definition</dl>
        <table><tr><td>1<td>2<tr><td>3<td>4</table><b><i>misnested</b> tail</i>
        <h2>first<h3>second</h3></h2><div>text</br>after a stray end tag</span></div>"#,
        expect![[r#"
            one

            two

            - a
            - b

            term
            definition

            1 | 2
            3 | 4

            ***misnested*** tail

            ## first

            ### second

            text
            after a stray end tag"#]],
    );
}

#[test]
fn reads_raw_text_elements_as_a_browser_does() {
    check(
        r#"<html><head><title>Title <b>not bold</b></title>
        <script>document.write("<p>from script</p>")</script>
        <style>p::after { content: "<p>from style</p>" }</style><body>
        <!-- <p>in a comment</p> --><p>body &amp; text&nbsp;here</p>
        <textarea><p>typed text</p></textarea><noscript><p>enable js</p></noscript>
        <xmp><b>shown as written</b></xmp><pre>
  indented
    more</pre>"#,
        expect![[r#"
            body & text here

            ```
            <b>shown as written</b>
            ```

            ```
              indented
                more
            ```"#]],
    );
}

#[test]
fn hidden_text_stays_hidden_however_the_markup_is_broken() {
    check(
        r#"<p>before</p><div hidden><table></div><p>inside the table</p></table>still hidden</div>
        <p>after</p><div hidden><div><div>nested</div></div>still hidden</div><p>end</p>"#,
        expect![[r#"
            before

            after

            end"#]],
    );
    // Past the depth limit a hidden element's end cannot be tracked: the rest is dropped.
    let html = format!("{}<p>deep</p><div hidden>injected</div><p>later</p>", "<div>".repeat(600));
    let markdown = html_to_markdown(&html, None);
    assert!(markdown.contains("deep"), "{markdown}");
    assert!(!markdown.contains("injected") && !markdown.contains("later"), "{markdown}");
}

#[test]
fn deep_nesting_neither_overflows_nor_explodes() {
    let depth = 20_000;
    let html = format!("{}deep{}", "<ul><li>".repeat(depth), "</li></ul>".repeat(depth));
    let markdown = html_to_markdown(&html, None);
    assert!(markdown.contains("deep"));
    assert!(markdown.len() < 2 * 1024 * 1024, "output is {} bytes", markdown.len());
    let html = format!("{}quoted{}", "<blockquote>".repeat(depth), "</blockquote>".repeat(depth));
    assert!(html_to_markdown(&html, None).contains("quoted"));
}

#[test]
fn paginates_by_characters_never_splitting_one() {
    let text = "héllo wörld ✨日本語";
    let page = |offset, max| {
        let page = paginate(text, offset, max);
        format!(
            "{:?} offset={} next={:?} total={}",
            page.text, page.offset, page.next_offset, page.total_chars
        )
    };
    expect![[r#"
        "héllo" offset=0 next=Some(5) total=16
        " wörld ✨" offset=5 next=Some(13) total=16
        "日本語" offset=13 next=None total=16
        "" offset=16 next=None total=16
        "" offset=16 next=None total=16"#]]
    .assert_eq(&[page(0, 5), page(5, 8), page(13, 8), page(16, 8), page(99, 8)].join("\n"));
}
