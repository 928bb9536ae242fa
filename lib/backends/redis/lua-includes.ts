/**
 * Turns the scripts and their `-- @include <name>` files into what Redis runs: one script per role
 * for EVALSHA (`inlineIncludes`), or one library of functions for FCALL (`functionLibrary`).
 *
 * Why it matters: Redis runs a script's whole top level on every EVALSHA, so each `local function`
 * of an include is a closure built per call (about 1,300 instructions each, some 30k per call with
 * the helpers a claim needs, against 15k for an empty script). A script gets only the definitions
 * it reaches; a function library defines them once, when it is loaded.
 *
 * An include is read as a sequence of top-level definitions: each starts at a line beginning with
 * `local` (a function, a constant or a per-call state variable) and runs to the next one. Text
 * before the first definition must be comments. A definition is kept when its name occurs, as a
 * word outside comments and strings, in the script's own text or in a kept definition (a
 * definition can only refer to earlier ones, Lua locals being what they are). Keeping too much is
 * harmless; a used helper left out would fail the call, which test/lua-includes.spec.ts rules out.
 *
 * Per-call state (a definition whose first line says `-- @per-call`) starts afresh with every
 * script call by construction; a library's functions reset it to its initial value on entry.
 */

const INCLUDE_LINE = /^--\s*@include\s+([\w-]+)\s*$/gm;
const DEFINITION = /^local\s+(?:function\s+)?([A-Za-z_]\w*)/;
const PER_CALL = /^local\s+([A-Za-z_]\w*)\s*(?:=\s*(.*?))?\s*--\s*@per-call\b/;

/** One top-level definition of an include. */
interface Definition {
  name: string;
  text: string;
  /** The words of its code (comments and strings left out): what it may refer to. */
  words: Set<string>;
  /** For per-call state: the Lua expression it starts each call with. */
  initial?: string;
}

export type IncludeReader = (name: string) => string;

/** A script: its source (with include lines) and what it needs of its includes. */
interface Resolved {
  includes: string[];
  /** Definitions of each include, in file order. */
  definitions: Definition[][];
  kept: Set<Definition>;
}

/** One entry point of a function library. */
export interface LibraryFunction {
  name: string;
  source: string;
  /** `redis.register_function` flags, e.g. 'no-writes'. */
  flags?: string[];
}

export class LuaSources {
  private readonly parsed = new Map<string, Definition[]>();

  constructor(private readonly readInclude: IncludeReader) {}

  /** `source` with every include line replaced by the definitions of that include it needs. */
  inlineIncludes(source: string): string {
    const { definitions, kept } = this.resolve(source);
    let index = 0;
    return source.replace(INCLUDE_LINE, () => textOf(definitions[index++].filter((d) => kept.has(d))));
  }

  /**
   * A library for FUNCTION LOAD: the definitions any of `functions` needs, once, then one
   * `redis.register_function` per entry, whose body is the script's own text (KEYS and ARGV are
   * its parameters, so the text runs unchanged) after resetting the per-call state it reaches.
   */
  functionLibrary(libraryName: string, functions: LibraryFunction[]): string {
    // One order of the includes that keeps every script's own order (each may use those before it).
    const order: string[] = [];
    const byInclude = new Map<string, Definition[]>();
    const kept = new Set<Definition>();
    const entries = functions.map((fn) => {
      const resolved = this.resolve(fn.source);
      let previous = -1;
      resolved.includes.forEach((name, i) => {
        if (!byInclude.has(name)) {
          order.splice(previous + 1, 0, name);
          byInclude.set(name, resolved.definitions[i]);
        }
        previous = order.indexOf(name);
      });
      for (const definition of resolved.kept) kept.add(definition);
      return { fn, resolved };
    });
    for (const { resolved } of entries) {
      const positions = resolved.includes.map((name) => order.indexOf(name));
      if (positions.some((at, i) => i > 0 && at < positions[i - 1])) {
        throw new Error(
          `Lua scripts include ${resolved.includes.join(', ')} in different orders; use one order everywhere`,
        );
      }
    }
    const parts = [
      `#!lua name=${libraryName}\n`,
      ...order.map((name) => textOf(byInclude.get(name)!.filter((d) => kept.has(d)))),
    ];
    for (const { fn, resolved } of entries) {
      const resets = [...resolved.kept]
        .filter((d) => d.initial !== undefined)
        .map((d) => `${d.name} = ${d.initial}\n`)
        .join('');
      const flags = fn.flags?.length ? `, flags = { ${fn.flags.map((f) => `'${f}'`).join(', ')} }` : '';
      parts.push(
        `redis.register_function{ function_name = '${fn.name}'${flags}, callback = function(KEYS, ARGV)\n` +
          resets +
          fn.source.replace(INCLUDE_LINE, '') +
          '\nend }\n',
      );
    }
    return parts.join('');
  }

  private resolve(source: string): Resolved {
    const includes = [...source.matchAll(INCLUDE_LINE)].map((m) => m[1]);
    const definitions = includes.map((name) => this.definitionsOf(name));
    const kept = new Set<Definition>();
    const reach = (words: Set<string>, upTo: number) => {
      // Later includes may use earlier ones, never the reverse.
      for (let i = upTo; i >= 0; i--) {
        for (const definition of definitions[i]) {
          if (kept.has(definition) || !words.has(definition.name)) continue;
          kept.add(definition);
          reach(definition.words, i);
        }
      }
    };
    reach(wordsOf(source.replace(INCLUDE_LINE, '')), definitions.length - 1);
    return { includes, definitions, kept };
  }

  private definitionsOf(name: string): Definition[] {
    let definitions = this.parsed.get(name);
    if (definitions) return definitions;
    definitions = [];
    const seen = new Set<string>();
    let preamble = '';
    for (const line of this.readInclude(name).split(/(?<=\n)/)) {
      const start = DEFINITION.exec(line);
      if (start) {
        if (seen.has(start[1])) throw new Error(`Lua include '${name}' defines '${start[1]}' twice`);
        seen.add(start[1]);
        const perCall = PER_CALL.exec(line);
        definitions.push({
          name: start[1],
          text: '',
          words: new Set(),
          initial: perCall ? perCall[2] || 'nil' : undefined,
        });
      }
      const current = definitions[definitions.length - 1];
      if (current) current.text += line;
      else preamble += line;
    }
    if (wordsOf(preamble).size > 0) {
      throw new Error(`Lua include '${name}' has code before its first 'local' definition; start it with one`);
    }
    for (const definition of definitions) {
      if (!definition.text.endsWith('\n')) definition.text += '\n';
      definition.words = wordsOf(definition.text);
    }
    this.parsed.set(name, definitions);
    return definitions;
  }
}

function textOf(definitions: Definition[]): string {
  return definitions.map((d) => d.text).join('');
}

/** The identifiers of Lua code, comments and string literals left out. */
function wordsOf(code: string): Set<string> {
  const stripped = code
    .replace(/--\[(=*)\[[\s\S]*?\]\1\]/g, ' ')
    .replace(/--[^\n]*/g, ' ')
    .replace(/'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"/g, ' ');
  return new Set(stripped.match(/[A-Za-z_]\w*/g) ?? []);
}
