// make-tokenizer-goldens.mjs - golden token ids for the tokenizer.json
// features the shared tokenizers do not use, from transformers.js, an
// independent implementation of tokenizer.json.
//
//   npm install @huggingface/transformers@4.3.2 --ignore-scripts   (in some directory DIR)
//   cd DIR && node .../tests/golden/make-tokenizer-goldens.mjs SHARED OUTDIR
//
// Each variant of tokenizer-variants.json is the shared tokenizer BASE
// (SHARED/tokenizers/BASE/tokenizer.json) with the fields of "set" replaced
// (a dotted key reaches into an object; model.vocab.WORD adds a word).  For every text (the first 47
// texts of SHARED/tokenizers/mistral/golden.jsonl, then the extra ones
// below), OUTDIR/tokenizer-VARIANT.jsonl gets {"text", "ids" (no special
// tokens), "ids_special" (with them), "decoded" (ids_special decoded,
// special tokens skipped)}.  The base class PreTrainedTokenizer is used,
// without tokenizer_config.json, so only tokenizer.json's pipeline applies
// (no model-specific quirks).  Variants marked no_space_runs leave out
// texts with two whitespace characters in a row: there transformers.js's
// Metaspace (one piece "▁▁" for two spaces) departs from the
// Rust crate's, which splits before every replacement character
// (tokenizers/src/pre_tokenizers/metaspace.rs, test multiple_spaces), and
// its decoder drops every replacement character of the first token.
// Variants marked ascii_only leave out texts with non-ASCII characters:
// transformers.js's Whitespace pre-tokenizer matches \w+|[^\w\s]+ with
// JavaScript's ASCII-only \w, where the Rust crate's \w is Unicode's (so
// "caf\u00e9" is one word there, two pieces here).
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';

const [shared, out] = process.argv.slice(2);
if (!shared || !out) {
    console.error('usage: node make-tokenizer-goldens.mjs SHARED OUTDIR');
    process.exit(2);
}
const require = createRequire(join(process.cwd(), 'x.js'));
const tf = await import(pathToFileURL(require.resolve('@huggingface/transformers')).href);
const here = dirname(new URL(import.meta.url).pathname);
const variants = JSON.parse(readFileSync(join(here, 'tokenizer-variants.json'), 'utf8'));

const texts = readFileSync(join(shared, 'tokenizers/mistral/golden.jsonl'), 'utf8')
    .split('\n').filter(l => l).slice(0, 47).map(l => JSON.parse(l).text);
texts.push('\ufb01nance and \ufb02ow', '\u2460\u2461\u2462 \u2177', '\u212b \u2126 \u2103 \u338f',
           '\uff46\uff55\uff4c\uff4c\uff57\uff49\uff44\uff54\uff48', 'x\u00b2 H\u2082O \u00bd',
           '\u01c6 \u01f1 \u1e9b\u0323', 'e\u0301 vs \u00e9', 'one,two;three...four', 'a\u3000b\u2003c',
           // words the ignore_merges variant has as whole vocabulary entries
           // that its merges do not reach
           'retrievalxyz', 'dense retrievalxyz works', 'retrievalxyzretrievalxyz');

for (const [name, v] of Object.entries(variants)) {
    const tj = JSON.parse(readFileSync(join(shared, 'tokenizers', v.base, 'tokenizer.json'), 'utf8'));
    for (const [key, value] of Object.entries(v.set)) {
        const path = key.split('.');
        let o = tj;
        for (const k of path.slice(0, -1)) o = o[k];
        o[path[path.length - 1]] = value;
    }
    const tok = new tf.PreTrainedTokenizer(tj, {});
    const lines = texts.filter(text => !(v.no_space_runs && /\s\s/.test(text)) &&
                                       !(v.ascii_only && /[^\x00-\x7f]/.test(text))).map(text => {
        const ids = tok.encode(text, { add_special_tokens: false });
        const ids_special = tok.encode(text, { add_special_tokens: true });
        const decoded = ids_special.length ? tok.decode(ids_special, { skip_special_tokens: true }) : "";
        return JSON.stringify({ text, ids, ids_special, decoded });
    });
    writeFileSync(join(out, `tokenizer-${name}.jsonl`), lines.join('\n') + '\n');
    console.log(`${name}: ${lines.length} texts`);
}
