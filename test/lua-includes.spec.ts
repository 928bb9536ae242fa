import { LuaSources } from '../lib/backends/redis/lua-includes';
import { loadFunctionLibrary, loadScripts } from '../lib/backends/redis/redis-scripts';

const definedNames = (lua: string) => (lua.match(/^local (?:function )?\w+/gm) ?? []).map((l) => l.split(' ').pop());

describe('inlineIncludes: a script gets only the include definitions it reaches', () => {
  const includes: Record<string, string> = {
    base: [
      '--[[ a header comment mentioning unused() ]]',
      'local LIMIT = 3',
      '-- a helper nobody calls',
      'local function unused() return LIMIT end',
      'local function leaf(x) return x + 1 end',
      "local function viaLeaf(x) return leaf(x) .. 'unused()' end -- unused() only in a string and a comment",
      '',
    ].join('\n'),
    more: ['local function top(x) return viaLeaf(x) * LIMIT end', 'local function spare() end', ''].join('\n'),
  };
  const sources = () => new LuaSources((name) => includes[name]);

  it('keeps what the script calls, what that calls in turn, across includes, in their order', () => {
    const lua = sources().inlineIncludes('-- @include base\n-- @include more\nreturn top(ARGV[1])\n');
    expect(definedNames(lua)).toEqual(
      ['LIMIT', 'viaLeaf', 'leaf', 'top'].sort((a, b) => lua.indexOf(a) - lua.indexOf(b)),
    );
    expect(lua).not.toContain('function unused');
    expect(lua).not.toContain('function spare');
    expect(lua.trimEnd().endsWith('return top(ARGV[1])')).toBe(true);
  });

  it('drops a whole include the script does not reach, and keeps the script text as it is', () => {
    const script = '-- @include base\n-- @include more\nlocal x = leaf(1) -- top() is not called\nreturn x\n';
    const lua = sources().inlineIncludes(script);
    expect(definedNames(lua)).toEqual(['leaf', 'x']);
    expect(lua).toContain('local x = leaf(1) -- top() is not called\nreturn x\n');
  });

  it('refuses an include with code before its first definition or a name defined twice', () => {
    const bad = (source: string) => () => new LuaSources(() => source).inlineIncludes('-- @include x\nreturn 1');
    expect(bad('redis.setresp(3)\nlocal function f() end\n')).toThrow(/code before its first 'local' definition/);
    expect(bad('local function f() end\nlocal f = 2\n')).toThrow(/defines 'f' twice/);
  });
});

describe('functionLibrary: the scripts as one library of functions', () => {
  const includes: Record<string, string> = {
    base: [
      'local seen = {} -- @per-call: memo',
      'local function mark(x) seen[x] = true end',
      'local function pure(x) return x end',
      '',
    ].join('\n'),
    more: ['local function twice(x) return pure(pure(x)) end', ''].join('\n'),
  };
  const sources = () => new LuaSources((name) => includes[name]);

  it('defines each helper once, resets per-call state where a function reaches it, and passes KEYS and ARGV', () => {
    const library = sources().functionLibrary('lib', [
      { name: 'f1', source: '-- @include base\nmark(ARGV[1])\nreturn KEYS[1]\n' },
      { name: 'f2', source: '-- @include base\n-- @include more\nreturn twice(ARGV[1])\n', flags: ['no-writes'] },
    ]);
    expect(library.startsWith('#!lua name=lib\n')).toBe(true);
    for (const name of ['seen', 'mark', 'pure', 'twice']) {
      expect(library.match(new RegExp(`^local (function )?${name}\\b`, 'gm'))).toHaveLength(1);
    }
    expect(library).toContain(
      "redis.register_function{ function_name = 'f1', callback = function(KEYS, ARGV)\nseen = {}\n\nmark(ARGV[1])",
    );
    expect(library).toContain(
      "redis.register_function{ function_name = 'f2', flags = { 'no-writes' }, callback = function(KEYS, ARGV)\n\n\nreturn twice",
    );
    // The definitions come before the functions that use them.
    expect(library.indexOf('local function twice')).toBeLessThan(library.indexOf("function_name = 'f1'"));
  });

  it('refuses scripts that include the same files in different orders', () => {
    expect(() =>
      sources().functionLibrary('lib', [
        { name: 'f1', source: '-- @include base\n-- @include more\nreturn 1' },
        { name: 'f2', source: '-- @include more\n-- @include base\nreturn 1' },
      ]),
    ).toThrow(/different orders/);
  });
});

describe('the shipped scripts', () => {
  const scripts = loadScripts();

  it('each keep the helpers they reach and leave out the ones of other roles', () => {
    expect(scripts.claim.lua).toContain('local function claimJobs');
    expect(scripts.claim.lua).not.toContain('local function createJob');
    expect(scripts.add.lua).toContain('local function createJob');
    expect(scripts.add.lua).not.toContain('local function claimJobs');
    expect(scripts.touch.lua).not.toContain('local function');
  });

  it('make one library with a function per script, named with a hash of the sources', () => {
    const library = loadFunctionLibrary();
    expect(library.name).toMatch(/^jq_v\d+_[0-9a-f]{12}$/);
    for (const { functionName } of Object.values(scripts)) {
      expect(functionName.endsWith(library.name.slice('jq_'.length))).toBe(true);
      expect(library.code).toContain(`function_name = '${functionName}'`);
    }
    expect(library.code).toMatch(/function_name = 'jqCounts_\S+', flags = \{ 'no-writes' \}/);
  });

  it('never call a helper that was left out: every called name is defined, a Lua builtin or redis', () => {
    const builtins = new Set([
      'redis',
      'cjson',
      'cmsgpack',
      'bit',
      'struct',
      'string',
      'table',
      'math',
      'tonumber',
      'tostring',
      'type',
      'pairs',
      'ipairs',
      'next',
      'select',
      'unpack',
      'error',
      'pcall',
      'assert',
      'KEYS',
      'ARGV',
    ]);
    for (const [role, { lua }] of Object.entries(scripts)) {
      const code = lua
        .replace(/--\[(=*)\[[\s\S]*?\]\1\]/g, '')
        .replace(/--[^\n]*/g, '')
        .replace(/'(?:[^'\\\n]|\\.)*'/g, "''");
      const defined = new Set(code.match(/(?<=\blocal function )\w+/g) ?? []);
      const called = new Set(
        [...code.matchAll(/(?<![.:\w])([A-Za-z_]\w*)\s*\(/g)]
          .map((m) => m[1])
          .filter(
            (name) =>
              !['function', 'if', 'and', 'or', 'not', 'return', 'elseif', 'until', 'while', 'in'].includes(name),
          ),
      );
      const undefinedCalls = [...called].filter((name) => !defined.has(name) && !builtins.has(name));
      expect({ role, undefinedCalls }).toEqual({ role, undefinedCalls: [] });
    }
  });
});
