#!/usr/bin/env python3
"""Stateful fakes of kind, helm, kubectl and docker for deskrun's tests.

One script, four tools: it acts as the tool named by basename(argv[0]) (tests
symlink kind/helm/kubectl/docker to it). Everything lives in
$DESKRUN_FAKE_STATE: state.json (the "cluster"), calls.jsonl (every call),
config.json (latency, versions, render-through) and faults.json (injected
failures). See README.md next to this file for the protocol.

The rule is fidelity: where the real tool refuses, the fake refuses with the
real tool's message shape and exit code. Where the fake does not implement a
real command or flag, it says so on stderr and exits 98, so a test never
mistakes a gap in the fake for behaviour of the real tool.
"""
import fcntl
import json
import os
import sys
import time

# ----------------------------------------------------------------------------
# Exits and small helpers
# ----------------------------------------------------------------------------

EXIT_UNSUPPORTED = 98  # the real tool has this, the fake does not
EXIT_NO_STATE = 97


class Fail(Exception):
    """Stop with `stderr` and exit `code` (optionally after some stdout)."""

    def __init__(self, stderr, code=1, stdout=""):
        super().__init__(stderr)
        self.stderr, self.code, self.stdout = stderr, code, stdout


def unsupported(what):
    return Fail("fake_tool: %s is not implemented by the fake (tests/fake-tools/fake_tool.py)" % what,
                EXIT_UNSUPPORTED)


def out(text=""):
    sys.stdout.write(text if text.endswith("\n") or text == "" else text + "\n")


def err(text):
    sys.stderr.write(text if text.endswith("\n") else text + "\n")


def _go_escape(s):
    return (s.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def go_json(obj):
    """Go's json.Marshal of a map: sorted keys, compact, <>& escaped."""
    return _go_escape(json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False))


def go_struct_json(obj):
    """Go's json.Encoder of a struct (helm -o json): field order kept."""
    return _go_escape(json.dumps(obj, separators=(",", ":"), ensure_ascii=False))


def go_indent_json(obj, indent=4, sort=True):
    """Go's json.MarshalIndent (kubectl -o json, docker inspect)."""
    return _go_escape(json.dumps(obj, indent=indent, sort_keys=sort, ensure_ascii=False))


def sha256(text):
    import hashlib
    return hashlib.sha256(text.encode()).hexdigest()


def b64(text):
    import base64
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def deepcopy(obj):
    return json.loads(json.dumps(obj))


def now():
    return time.time()


# ---- time formats -------------------------------------------------------------

def rfc3339(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _frac(t, digits=9):
    ns = int(round((t - int(t)) * 10 ** digits))
    if ns >= 10 ** digits:
        ns = 10 ** digits - 1
    return ("%0*d" % (digits, ns)).rstrip("0")


def rfc3339nano(t):
    """Go's time.Time JSON form (UTC): 2006-01-02T15:04:05.999999999Z."""
    f = _frac(t)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ("." + f if f else "") + "Z"


def go_time_string(t):
    """Go's Time.String() in UTC, as `helm list` prints `updated`."""
    f = _frac(t)
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t)) + ("." + f if f else "") + " +0000 UTC"


def ansic(t):
    """Go's time.ANSIC: Mon Jan _2 15:04:05 2006 (helm's LAST DEPLOYED)."""
    g = time.gmtime(t)
    return time.strftime("%a %b ", g) + ("%2d" % g.tm_mday) + time.strftime(" %H:%M:%S %Y", g)


def human_age(seconds):
    """kubectl's duration.HumanDuration."""
    s = int(max(seconds, 0))
    if s < 120:
        return "%ds" % s
    m = s // 60
    if m < 10:
        return "%dm%ds" % (m, s % 60) if s % 60 else "%dm" % m
    if m < 180:
        return "%dm" % m
    h = m // 60
    if h < 8:
        return "%dh%dm" % (h, m % 60) if m % 60 else "%dh" % h
    if h < 48:
        return "%dh" % h
    d = h // 24
    if d < 8:
        return "%dd%dh" % (d, h % 24) if h % 24 else "%dd" % d
    return "%dd" % d


def parse_go_duration(text):
    """Seconds in a Go duration ("5m0s", "300s", "1h", "1.5s"); None if invalid."""
    import re
    if text in ("0",):
        return 0.0
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
    parts = re.findall(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)", text)
    if not parts or "".join(a + b for a, b in parts) != text.lstrip("+"):
        return None
    return sum(float(a) * units[b] for a, b in parts)


def go_str(v):
    """How a Go template prints a value."""
    if v is None:
        return "<no value>"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, dict):
        return "map[" + " ".join("%s:%s" % (k, go_str(v[k])) for k in sorted(v)) + "]"
    if isinstance(v, list):
        return "[" + " ".join(go_str(x) for x in v) + "]"
    return str(v)


def truthy(v):
    """Go template truthiness."""
    return not (v is None or v is False or v == 0 or v == "" or v == [] or v == {})


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


# ---- YAML ------------------------------------------------------------------------
# Loaded lazily: PyYAML costs ~30 ms of startup and most calls never need it.

_LOADER = None


def _yaml_loader():
    """A safe loader that, like Go's yaml, refuses duplicate keys and keeps
    timestamps as strings."""
    global _LOADER
    if _LOADER is None:
        import yaml

        class Loader(yaml.SafeLoader):
            pass

        Loader.yaml_implicit_resolvers = {
            k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
            for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}

        def construct_mapping(loader, node, deep=False):
            loader.flatten_mapping(node)
            seen = {}
            for key_node, _ in node.value:
                key = loader.construct_object(key_node, deep=deep)
                if key in seen:
                    raise YamlError("yaml: unmarshal errors:\n  line %d: key %s already set in map"
                                    % (key_node.start_mark.line + 1, json.dumps(str(key))))
                seen[key] = True
            return yaml.SafeLoader.construct_mapping(loader, node, deep)

        Loader.add_constructor("tag:yaml.org,2002:map", construct_mapping)
        _LOADER = Loader
    return _LOADER


class YamlError(Exception):
    pass


def _yaml_problem(e):
    mark = getattr(e, "problem_mark", None)
    problem = getattr(e, "problem", None) or str(e)
    line = mark.line + 1 if mark is not None else 1
    return "yaml: line %d: %s" % (line, problem)


def _json_pairs(pairs):
    seen = {}
    for k, v in pairs:
        if k in seen:
            raise YamlError("yaml: unmarshal errors:\n  line 1: key %s already set in map" % json.dumps(k))
        seen[k] = v
    return seen


def yaml_load_all(text):
    """Documents of a YAML (or JSON) stream, empty ones dropped. JSON is
    tried first: it is YAML too, and parsing it needs no PyYAML import."""
    if text.lstrip().startswith(("{", "[")):
        try:
            doc = json.loads(text, object_pairs_hook=_json_pairs)
            return [doc] if doc is not None else []
        except ValueError:
            pass
    try:
        import yaml
    except ImportError:  # JSON only without PyYAML
        if not text.strip():
            return []
        try:
            return [json.loads(text, object_pairs_hook=_json_pairs)]
        except ValueError:
            raise unsupported("reading YAML without PyYAML installed (JSON input works)")
    try:
        return [d for d in yaml.load_all(text, Loader=_yaml_loader()) if d is not None]
    except YamlError:
        raise
    except yaml.YAMLError as e:
        raise YamlError("error converting YAML to JSON: " + _yaml_problem(e))


def yaml_load(text):
    docs = yaml_load_all(text)
    return docs[0] if docs else None


def yaml_dump(obj):
    try:
        import yaml
    except ImportError:
        return go_indent_json(obj) + "\n"
    return yaml.safe_dump(obj, sort_keys=True, default_flow_style=False, allow_unicode=True, width=1 << 30)


# ---- Kubernetes validation -------------------------------------------------------

DNS1123_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
DNS1123_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
LABEL_NAME = r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
LABEL_VALUE = r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?"
CONFIG_KEY = r"[-._a-zA-Z0-9]+"

MSG_SUBDOMAIN = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                 "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
                 "validation is '%s')" % DNS1123_SUBDOMAIN)
MSG_LABEL = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
             "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
             "validation is '%s')" % DNS1123_LABEL)


def full_match(rx, s):
    import re
    return re.fullmatch(rx, s) is not None


def name_errors(name, label=False, field="metadata.name"):
    errs = []
    limit = 63 if label else 253
    if len(name) > limit:
        errs.append('%s: Invalid value: "%s": must be no more than %d characters' % (field, name, limit))
    if not full_match(DNS1123_LABEL if label else DNS1123_SUBDOMAIN, name):
        errs.append('%s: Invalid value: "%s": %s' % (field, name, MSG_LABEL if label else MSG_SUBDOMAIN))
    return errs


def label_errors(labels, field="metadata.labels"):
    errs = []
    for k, v in (labels or {}).items():
        prefix, _, name = k.rpartition("/")
        if prefix and (len(prefix) > 253 or not full_match(DNS1123_SUBDOMAIN, prefix)):
            errs.append('%s: Invalid value: "%s": prefix part %s' % (field, k, MSG_SUBDOMAIN))
        if not name:
            errs.append('%s: Invalid value: "%s": name part must be non-empty' % (field, k))
        elif len(name) > 63:
            errs.append('%s: Invalid value: "%s": name part must be no more than 63 characters' % (field, k))
        elif not full_match(LABEL_NAME, name):
            errs.append('%s: Invalid value: "%s": name part must consist of alphanumeric characters, \'-\', '
                        '\'_\' or \'.\', and must start and end with an alphanumeric character (e.g. \'MyName\',  '
                        'or \'my.name\',  or \'123-abc\', regex used for validation is \'%s\')' % (field, k, LABEL_NAME))
        v = str(v)
        if len(v) > 63:
            errs.append('%s: Invalid value: "%s": must be no more than 63 characters' % (field, v))
        elif not full_match(LABEL_VALUE, v):
            errs.append('%s: Invalid value: "%s": a valid label must be an empty string or consist of alphanumeric '
                        'characters, \'-\', \'_\' or \'.\', and must start and end with an alphanumeric character '
                        '(e.g. \'MyValue\',  or \'my_value\',  or \'12345\', regex used for validation is \'%s\')'
                        % (field, v, LABEL_VALUE))
    return errs


def invalid(kind_group, name, errs):
    """The API server's 422 message body."""
    body = errs[0] if len(errs) == 1 else "[" + ", ".join(errs) + "]"
    return '%s "%s" is invalid: %s' % (kind_group, name, body)


# ---- label selectors ----------------------------------------------------------

def parse_selector(text):
    """Requirements of a label selector: (key, op, values). Raises ValueError."""
    import re
    reqs = []
    if not text:
        return reqs
    # split on commas outside parentheses
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    for p in parts:
        p = p.strip()
        m = re.fullmatch(r"([^\s!=()]+)\s+(in|notin)\s+\(([^)]*)\)", p)
        if m:
            reqs.append((m.group(1), m.group(2), [v.strip() for v in m.group(3).split(",") if v.strip()]))
            continue
        m = re.fullmatch(r"([^\s!=()]+)\s*(==|!=|=)\s*([^\s!=(),]*)", p)
        if m:
            op = {"==": "=", "=": "=", "!=": "!="}[m.group(2)]
            reqs.append((m.group(1), op, [m.group(3)]))
            continue
        m = re.fullmatch(r"(!?)([^\s!=(),]+)", p)
        if m:
            reqs.append((m.group(2), "!" if m.group(1) else "exists", []))
            continue
        raise ValueError(p)
    return reqs


def selector_matches(reqs, labels):
    labels = labels or {}
    for key, op, values in reqs:
        has = key in labels
        val = labels.get(key)
        if op == "=" and not (has and val == values[0]):
            return False
        if op == "!=" and has and val == values[0]:
            return False
        if op == "exists" and not has:
            return False
        if op == "!" and has:
            return False
        if op == "in" and not (has and val in values):
            return False
        if op == "notin" and has and val in values:
            return False
    return True


# ---- Go templates (the tiny subset docker --format and helm --template use) ----

def go_template(tpl, data, tool):
    """Render `{{.A.B}}`, `{{json .X}}`, `{{index .M "k"}}` and literal text."""
    import re
    outp, pos = [], 0
    for m in re.finditer(r"\{\{-?\s*(.*?)\s*-?\}\}", tpl):
        outp.append(tpl[pos:m.start()])
        pos = m.end()
        expr = m.group(1)
        mj = re.fullmatch(r"json\s+(\.[\w.]*)", expr)
        mi = re.fullmatch(r'index\s+(\.[\w.]*)\s+"([^"]*)"', expr)
        mf = re.fullmatch(r"(\.[\w.]*)", expr)
        if mj:
            outp.append(go_json(_tpl_path(data, mj.group(1))))
        elif mi:
            base = _tpl_path(data, mi.group(1))
            outp.append(go_str(base.get(mi.group(2)) if isinstance(base, dict) else None))
        elif mf:
            outp.append(go_str(_tpl_path(data, mf.group(1))))
        else:
            raise unsupported("%s template action {{%s}}" % (tool, expr))
    outp.append(tpl[pos:])
    return "".join(outp)


def _tpl_path(data, path):
    cur = data
    for part in [p for p in path.split(".") if p]:
        cur = cur.get(part) if isinstance(cur, dict) else None
    return cur


# ---- JSONPath (kubectl -o jsonpath=...) ----------------------------------------

def jsonpath(tpl, data):
    import re
    tokens = re.findall(r"\{([^{}]*)\}|([^{}]+)", tpl)

    def run(tokens, ctx):
        res, i = [], 0
        while i < len(tokens):
            expr, lit = tokens[i]
            i += 1
            if lit:
                res.append(lit.replace("\\n", "\n").replace("\\t", "\t"))
                continue
            expr = expr.strip()
            if expr.startswith("range "):
                depth, j = 1, i
                while j < len(tokens):
                    e = tokens[j][0].strip()
                    if e.startswith("range "):
                        depth += 1
                    elif e == "end":
                        depth -= 1
                        if depth == 0:
                            break
                    j += 1
                body = tokens[i:j]
                for item in _jp_eval(expr[6:].strip(), ctx):
                    res.append(run(body, item))
                i = j + 1
            elif expr == "end":
                continue
            elif expr.startswith('"') and expr.endswith('"'):
                res.append(json.loads(expr))
            else:
                vals = _jp_eval(expr, ctx)
                res.append(" ".join(v if isinstance(v, str) else go_json(v) if isinstance(v, (dict, list))
                                    else go_str(v) for v in vals))
        return "".join(res)

    return run(tokens, data)


def _jp_eval(expr, ctx):
    import re
    if expr in ("", "@", "."):
        return [ctx]
    expr = expr[1:] if expr.startswith("$") else expr
    segs = re.findall(r"\.((?:[^.\[\\]|\\.)+)|\[\*\]|\[(-?\d+)\]|\['([^']*)'\]|\[\"([^\"]*)\"\]|(\.\.)", expr)
    vals = [ctx]
    for field, idx, q1, q2, _ in segs:
        nxt = []
        for v in vals:
            if field:
                key = field.replace("\\.", ".")
                if key == "*" and isinstance(v, dict):
                    nxt.extend(v.values())
                elif isinstance(v, dict) and key in v:
                    nxt.append(v[key])
            elif q1 or q2:
                key = q1 or q2
                if isinstance(v, dict) and key in v:
                    nxt.append(v[key])
            elif idx:
                if isinstance(v, list) and -len(v) <= int(idx) < len(v):
                    nxt.append(v[int(idx)])
            elif isinstance(v, list):
                nxt.extend(v)
            elif isinstance(v, dict):
                nxt.extend(v.values())
        vals = nxt
    return vals


# ----------------------------------------------------------------------------
# Command-line parsing (pflag/cobra-like)
# ----------------------------------------------------------------------------

def flagspec(*defs):
    """"long|s:kind" → spec; kinds: bool, str, list (repeatable), opt=DEFAULT
    (a string flag that may be given without value), x (a real flag the fake
    does not implement: accepted by the parser, refused with exit 98)."""
    spec = {}
    for d in defs:
        names, _, kind = d.partition(":")
        kind = kind or "bool"
        long, _, short = names.partition("|")
        spec["--" + long] = (long, kind)
        if short:
            spec["-" + short] = (long, kind)
    return spec


class Usage(Exception):
    """A flag error, worded by each tool."""


def _parse_bool(flag, text):
    if text.lower() in ("1", "t", "true"):
        return True
    if text.lower() in ("0", "f", "false"):
        return False
    raise Usage('invalid argument "%s" for "%s" flag: strconv.ParseBool: parsing "%s": invalid syntax'
                % (text, flag, text))


def _store(opts, canon, kind, val):
    if kind == "list":
        opts.setdefault(canon, []).append(val)
    else:
        opts[canon] = val


def parse_flags(args, spec, stop_at_positional=False, tolerant=False):
    """(opts, positionals, index where parsing stopped). tolerant: skip
    unknown flags (to find the command words before reporting them)."""
    opts, pos, i = {}, [], 0
    while i < len(args):
        a = args[i]
        if stop_at_positional and (not a.startswith("-") or a == "-"):
            return opts, pos, i
        i += 1
        if a == "--":
            pos.extend(args[i:])
            i = len(args)
            break
        if a.startswith("--"):
            name, eq, val = a.partition("=")
            if name not in spec:
                if tolerant:
                    continue
                raise Usage("unknown flag: " + name)
            canon, kind = spec[name]
            if kind == "x":  # a real flag the fake does not implement
                opts.setdefault("__unsupported", []).append(name)
            elif kind == "bool":
                opts[canon] = _parse_bool(name, val) if eq else True
            elif kind.startswith("opt="):
                opts[canon] = val if eq else kind[4:]
            else:
                if not eq:
                    if i >= len(args):
                        raise Usage("flag needs an argument: " + name)
                    val = args[i]
                    i += 1
                _store(opts, canon, kind, val)
        elif a.startswith("-") and a != "-":
            j = 1
            while j < len(a):
                c = a[j]
                if "-" + c not in spec:
                    if tolerant:
                        break
                    raise Usage("unknown shorthand flag: '%s' in %s" % (c, a))
                canon, kind = spec["-" + c]
                if kind == "x":
                    opts.setdefault("__unsupported", []).append("-" + c)
                    break
                if kind == "bool":
                    if a[j + 1:j + 2] == "=":
                        opts[canon] = _parse_bool("-" + c, a[j + 2:])
                        break
                    opts[canon] = True
                    j += 1
                    continue
                rest = a[j + 1:]
                if rest.startswith("="):
                    rest = rest[1:]
                elif rest == "":
                    if kind.startswith("opt="):
                        opts[canon] = kind[4:]
                        break
                    if i >= len(args):
                        raise Usage("flag needs an argument: '%s' in %s" % (c, a))
                    rest = args[i]
                    i += 1
                _store(opts, canon, kind, rest)
                break
        else:
            pos.append(a)
    return opts, pos, i


class Cmd:
    """A parsed invocation: command words, flags, positionals."""

    def __init__(self, tool, argv):
        self.tool, self.argv = tool, argv
        self.words, self.pos, self.opts = [], [], {}
        self.error = None       # a Fail to raise after recording (bad usage)
        self.handler = None

    def get(self, key, default=None):
        return self.opts.get(key, default)


def parse_command(tool, argv, commands, global_spec, usage_fail):
    """Find the command path (cobra-style: flags may come before or between
    words), then parse the remaining flags with that command's spec."""
    cmd = Cmd(tool, argv)
    union = dict(global_spec)
    for entry in commands.values():
        for k, v in entry[0].items():
            union.setdefault(k, v)
    try:
        _, pos, _ = parse_flags(argv, union, tolerant=True)
    except Usage:
        pos = [a for a in argv if not a.startswith("-")]
    words = []
    for w in pos:
        if tuple(words + [w]) in commands or any(k[:len(words) + 1] == tuple(words + [w]) for k in commands):
            words.append(w)
        else:
            break
    while words and tuple(words) not in commands:
        words.pop()
    cmd.words = words
    if not words:
        cmd.error = usage_fail(None, pos[0] if pos else None)
        return cmd
    spec = dict(global_spec)
    spec.update(commands[tuple(words)][0])
    cmd.handler = commands[tuple(words)][1]
    try:
        cmd.opts, rest, _ = parse_flags(argv, spec)
    except Usage as e:
        cmd.error = usage_fail(words, None, str(e))
        return cmd
    # drop the command words from the positionals
    rest = list(rest)
    for w in words:
        rest.remove(w)
    cmd.pos = rest
    return cmd


# ----------------------------------------------------------------------------
# The state store
# ----------------------------------------------------------------------------

_CRITICAL = [0, None]  # depth, pending exit code (SIGTERM during a write)


def _on_signal(signum, _frame):
    code = 128 + signum
    if _CRITICAL[0]:
        _CRITICAL[1] = code
        return
    _hard_exit(code)


def _hard_exit(code):
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


class Store:
    def __init__(self, root):
        self.root = root
        self.state_path = os.path.join(root, "state.json")
        self._config = None

    def path(self, name):
        return os.path.join(self.root, name)

    def config(self):
        if self._config is None:
            try:
                with open(self.path("config.json")) as f:
                    self._config = json.load(f) or {}
            except FileNotFoundError:
                self._config = {}
            except ValueError as e:
                raise Fail("fake_tool: %s is not valid JSON: %s" % (self.path("config.json"), e), EXIT_NO_STATE)
        return self._config

    def transaction(self):
        return _Txn(self)

    def read(self):
        """A snapshot without the lock (state.json is replaced atomically)."""
        try:
            with open(self.state_path) as f:
                return _fill_state(json.load(f))
        except FileNotFoundError:
            return _fill_state({})
        except ValueError as e:
            raise Fail("fake_tool: %s is not valid JSON: %s" % (self.state_path, e), EXIT_NO_STATE)


def _fill_state(st):
    st.setdefault("seq", 0)
    st.setdefault("fault_counts", {})
    st.setdefault("clusters", {})
    st.setdefault("docker", {"containers": {}})
    return st


class _Txn:
    """Exclusive flock on $STATE/lock; state.json written (tmp + rename) when
    the block exits without an exception. SIGTERM is deferred meanwhile."""

    def __init__(self, store):
        self.store = store

    def __enter__(self):
        _CRITICAL[0] += 1
        self.fd = os.open(self.store.path("lock"), os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        self.state = self.store.read()
        return self.state

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                tmp = "%s.tmp.%d" % (self.store.state_path, os.getpid())
                # Compact: json's C encoder only runs without indent, and
                # every call rewrites this file.
                with open(tmp, "w") as f:
                    f.write(json.dumps(self.state, separators=(",", ":")))
                os.replace(tmp, self.store.state_path)
        finally:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            _CRITICAL[0] -= 1
            if not _CRITICAL[0] and _CRITICAL[1] is not None:
                _hard_exit(_CRITICAL[1])
        return False


def recorded_env():
    keep = {}
    for k, v in os.environ.items():
        if k.startswith("DESKRUN_FAKE_"):
            continue
        if (k.startswith(("KUBE", "HELM", "KIND", "DOCKER", "GITHUB", "DESKRUN_"))
                or "TOKEN" in k or "KEY" in k):
            keep[k] = v
    return keep


def load_faults(store):
    try:
        with open(store.path("faults.json")) as f:
            faults = json.load(f)
        st = os.stat(store.path("faults.json"))
    except FileNotFoundError:
        return [], ""
    except ValueError as e:
        raise Fail("fake_tool: faults.json is not valid JSON: %s" % e, EXIT_NO_STATE)
    if isinstance(faults, dict):
        faults = [faults]
    # counters reset whenever faults.json is rewritten
    return faults, "%d:%d" % (st.st_ino, st.st_mtime_ns)


def record_and_match_fault(store, cmd, stdin):
    """Append the call to calls.jsonl and count it against faults.json, in one
    locked step; return the fault to inject, if any."""
    faults, stamp = load_faults(store)
    line = " ".join(cmd.argv)
    with store.transaction() as st:
        st["seq"] += 1
        rec = {"seq": st["seq"], "tool": cmd.tool, "argv": cmd.argv, "stdin": stdin,
               "env": recorded_env(), "start": now()}
        with open(store.path("calls.jsonl"), "a") as f:
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
        counts = st["fault_counts"]
        if counts.get("_stamp") != stamp:
            counts.clear()
            counts["_stamp"] = stamp
        chosen = None
        for i, fault in enumerate(faults):
            if fault.get("tool") not in (None, "", "*", cmd.tool):
                continue
            if fault.get("match", "") not in line:
                continue
            n = counts.get(str(i), 0) + 1
            counts[str(i)] = n
            nth = fault.get("nth", 1)
            if chosen is None and (nth == 0 or n == nth):
                chosen = fault
    return chosen


def apply_fault(fault):
    action = fault.get("action", "fail")
    if action == "fail":
        if fault.get("stdout"):
            out(fault["stdout"])
        raise Fail(fault.get("stderr", "Error: injected failure"), int(fault.get("exit", 1)))
    if action == "garbage":
        sys.stdout.write(fault.get("stdout", "\x00not json {{{ garbage\n"))
        raise Fail("", 0)
    if action == "hang":
        hang()
    if action == "interrupt":
        return "interrupt"  # handled by helm's mutating commands
    raise Fail("fake_tool: unknown fault action %r" % action, EXIT_NO_STATE)


def hang():
    sys.stdout.flush()
    time.sleep(3600)
    raise Fail("", 0)


def latency_for(store, cmd):
    lat = store.config().get("latency_ms") or {}
    keys = []
    if len(cmd.words) >= 2:
        keys.append("%s %s %s" % (cmd.tool, cmd.words[0], cmd.words[1]))
    if cmd.words:
        keys.append("%s %s" % (cmd.tool, cmd.words[0]))
    keys += [cmd.tool, "default"]
    for k in keys:
        if k in lat:
            return float(lat[k]) / 1000.0
    return 0.0


# ----------------------------------------------------------------------------
# The cluster model
# ----------------------------------------------------------------------------

# plural, singular, short names, kind, group, version, namespaced
BUILTIN_TYPES = [
    ("configmaps", "configmap", ["cm"], "ConfigMap", "", "v1", True),
    ("secrets", "secret", [], "Secret", "", "v1", True),
    ("pods", "pod", ["po"], "Pod", "", "v1", True),
    ("namespaces", "namespace", ["ns"], "Namespace", "", "v1", False),
    ("serviceaccounts", "serviceaccount", ["sa"], "ServiceAccount", "", "v1", True),
    ("services", "service", ["svc"], "Service", "", "v1", True),
    ("nodes", "node", ["no"], "Node", "", "v1", False),
    ("events", "event", ["ev"], "Event", "", "v1", True),
    ("persistentvolumeclaims", "persistentvolumeclaim", ["pvc"], "PersistentVolumeClaim", "", "v1", True),
    ("persistentvolumes", "persistentvolume", ["pv"], "PersistentVolume", "", "v1", False),
    ("deployments", "deployment", ["deploy"], "Deployment", "apps", "v1", True),
    ("replicasets", "replicaset", ["rs"], "ReplicaSet", "apps", "v1", True),
    ("daemonsets", "daemonset", ["ds"], "DaemonSet", "apps", "v1", True),
    ("statefulsets", "statefulset", ["sts"], "StatefulSet", "apps", "v1", True),
    ("jobs", "job", [], "Job", "batch", "v1", True),
    ("roles", "role", [], "Role", "rbac.authorization.k8s.io", "v1", True),
    ("rolebindings", "rolebinding", [], "RoleBinding", "rbac.authorization.k8s.io", "v1", True),
    ("clusterroles", "clusterrole", [], "ClusterRole", "rbac.authorization.k8s.io", "v1", False),
    ("clusterrolebindings", "clusterrolebinding", [], "ClusterRoleBinding", "rbac.authorization.k8s.io", "v1", False),
    ("storageclasses", "storageclass", ["sc"], "StorageClass", "storage.k8s.io", "v1", False),
    ("customresourcedefinitions", "customresourcedefinition", ["crd", "crds"], "CustomResourceDefinition",
     "apiextensions.k8s.io", "v1", False),
]


class RType:
    def __init__(self, plural, singular, short, kind, group, version, namespaced, crd=None):
        self.plural, self.singular, self.short = plural, singular, short
        self.kind, self.group, self.version, self.namespaced, self.crd = kind, group, version, namespaced, crd

    @property
    def api_version(self):
        return self.group + "/" + self.version if self.group else self.version

    @property
    def qualified(self):  # configmaps / deployments.apps
        return self.plural + ("." + self.group if self.group else "")

    @property
    def name_prefix(self):  # configmap / deployment.apps  (kubectl -o name)
        return self.singular + ("." + self.group if self.group else "")

    @property
    def kind_group(self):  # ConfigMap / AutoscalingRunnerSet.actions.github.com
        return self.kind + ("." + self.group if self.group else "")


def cluster_types(cluster):
    types = [RType(*t) for t in BUILTIN_TYPES]
    for crd in objects_of(cluster, "apiextensions.k8s.io", "CustomResourceDefinition"):
        if crd["metadata"].get("deletionTimestamp"):
            continue
        spec = crd.get("spec", {})
        names = spec.get("names", {})
        versions = [v["name"] for v in spec.get("versions", []) if v.get("served", True)] or ["v1"]
        types.append(RType(names.get("plural", ""), names.get("singular", names.get("kind", "").lower()),
                           names.get("shortNames", []) or [], names.get("kind", ""), spec.get("group", ""),
                           versions[0], spec.get("scope", "Namespaced") == "Namespaced",
                           crd=crd["metadata"]["name"]))
    return types


def resolve_type(cluster, text):
    """kubectl's resource name resolution: plural/singular/short, optionally
    qualified by group (and version)."""
    t = text.lower()
    for rt in cluster_types(cluster):
        names = [rt.plural, rt.singular] + rt.short
        for n in names:
            if t == n or (rt.group and (t == n + "." + rt.group or t == "%s.%s.%s" % (n, rt.version, rt.group))):
                return rt
            if not rt.group and t == "%s.%s" % (n, rt.version):
                return rt
    return None


def type_for_kind(cluster, api_version, kind):
    group, _, version = api_version.rpartition("/")
    for rt in cluster_types(cluster):
        if rt.kind == kind and rt.group == group and (rt.version == version or rt.crd):
            if rt.crd:
                crd = get_obj(cluster, "apiextensions.k8s.io", "CustomResourceDefinition", "", rt.crd)
                served = [v["name"] for v in crd.get("spec", {}).get("versions", []) if v.get("served", True)]
                if version not in served:
                    continue
            return rt
    return None


def obj_key(group, kind, ns, name):
    return "%s/%s/%s/%s" % (group, kind, ns or "", name)


def key_of(obj):
    group = obj.get("apiVersion", "").rpartition("/")[0]
    md = obj.get("metadata", {})
    return obj_key(group, obj.get("kind", ""), md.get("namespace", ""), md.get("name", ""))


def get_obj(cluster, group, kind, ns, name):
    return cluster["objects"].get(obj_key(group, kind, ns, name))


def objects_of(cluster, group, kind, ns=None):
    prefix = "%s/%s/" % (group, kind)
    res = []
    for k, o in cluster["objects"].items():
        if k.startswith(prefix) and (ns is None or o["metadata"].get("namespace", "") == ns):
            res.append(o)
    return sorted(res, key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))


def next_rv(cluster):
    cluster["rv"] = cluster.get("rv", 1000) + 1
    return str(cluster["rv"])


def new_uid():
    import uuid
    return str(uuid.uuid4())


def put_obj(cluster, obj, keep_from=None):
    """Store obj with server-set metadata (uid, resourceVersion, creation);
    return "created", "configured" or "unchanged"."""
    md = obj.setdefault("metadata", {})
    key = key_of(obj)
    old = cluster["objects"].get(key) if keep_from is None else keep_from
    if old is not None:
        omd = old["metadata"]
        for f in ("uid", "creationTimestamp", "generation", "deletionTimestamp"):
            if f in omd:
                md[f] = omd[f]
        if "status" in old and "status" not in obj:
            obj["status"] = old["status"]
        md["resourceVersion"] = omd.get("resourceVersion", "1")
        if _comparable(old) == _comparable(obj):
            cluster["objects"][key] = obj
            return "unchanged"
        if "generation" in md and old.get("spec") != obj.get("spec"):
            md["generation"] = md["generation"] + 1
        md["resourceVersion"] = next_rv(cluster)
        cluster["objects"][key] = obj
        return "configured"
    md["uid"] = new_uid()
    md["creationTimestamp"] = rfc3339(now())
    md["resourceVersion"] = next_rv(cluster)
    group = obj.get("apiVersion", "").rpartition("/")[0]
    if group not in ("", "apps", "rbac.authorization.k8s.io", "storage.k8s.io", "batch") or obj.get("kind") == "Deployment":
        md.setdefault("generation", 1)
    cluster["objects"][key] = obj
    return "created"


def _comparable(obj):
    o = deepcopy(obj)
    md = o.get("metadata", {})
    for f in ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields"):
        md.pop(f, None)
    return o


def delete_obj(cluster, obj):
    """Delete, honouring finalizers: an object with finalizers only gets a
    deletionTimestamp and stays until they are removed (see reconcile)."""
    key = key_of(obj)
    if key not in cluster["objects"]:
        return
    md = obj["metadata"]
    if obj.get("kind") == "Namespace":
        # a namespace terminates: its contents go first, its helm releases
        # (Secrets without finalizers) at once
        ns = md["name"]
        md.setdefault("deletionTimestamp", rfc3339(now()))
        obj.setdefault("status", {})["phase"] = "Terminating"
        # workloads go last, so a controller living here still gets to
        # finish the cleanups its finalizers promise
        inside = [o for o in cluster["objects"].values() if o["metadata"].get("namespace") == ns]
        for o in inside:
            if o["kind"] not in ("Deployment", "Pod"):
                delete_obj(cluster, o)
        reconcile(cluster)
        for o in inside:
            if key_of(o) in cluster["objects"]:
                delete_obj(cluster, o)
        for rk in [k for k in cluster["releases"] if k.startswith(ns + "/")]:
            del cluster["releases"][rk]
        return
    if md.get("finalizers"):
        if not md.get("deletionTimestamp"):
            md["deletionTimestamp"] = rfc3339(now())
            md["deletionGracePeriodSeconds"] = 0
            md["resourceVersion"] = next_rv(cluster)
        return
    purge_obj(cluster, obj)


def purge_obj(cluster, obj):
    cluster["objects"].pop(key_of(obj), None)
    if obj.get("kind") == "CustomResourceDefinition":
        # deleting a CRD deletes every object of its kind
        spec = obj.get("spec", {})
        prefix = "%s/%s/" % (spec.get("group", ""), spec.get("names", {}).get("kind", ""))
        for k in [k for k in cluster["objects"] if k.startswith(prefix)]:
            del cluster["objects"][k]


def namespace_exists(cluster, ns):
    o = get_obj(cluster, "", "Namespace", "", ns)
    return o is not None and not o["metadata"].get("deletionTimestamp")


def make_namespace(cluster, ns):
    obj = {"apiVersion": "v1", "kind": "Namespace",
           "metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}},
           "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}
    put_obj(cluster, obj)
    return obj


def cluster_for_context(state, context):
    if context and context.startswith("kind-"):
        return state["clusters"].get(context[5:])
    return None


def node_running(state, cluster):
    c = state["docker"]["containers"].get(cluster["name"] + "-control-plane")
    return bool(c and c["State"]["Running"])


def kube_version(state, cluster):
    return cluster.get("kubernetes_version", "v1.33.1")


# ---- ARC controller emulation ------------------------------------------------------

ARC_PART_OF = "app.kubernetes.io/part-of"
ARS_FINALIZER = "autoscalingrunnerset.actions.github.com/finalizer"
CLEANUP_FINALIZER = "actions.github.com/cleanup-protection"


def arc_controllers(cluster):
    return [d for d in objects_of(cluster, "apps", "Deployment")
            if (d["metadata"].get("labels") or {}).get(ARC_PART_OF) == "gha-rs-controller"
            and not d["metadata"].get("deletionTimestamp")]


def listener_name(ars):
    md = ars["metadata"]
    return "%s-%s-listener" % (md["name"], sha256(md.get("namespace", "") + "/" + md["name"])[:8])


def reconcile(cluster):
    """What a running gha-rs-controller (and the API server's garbage
    collection) would do by now: give each runner set its finalizer, status,
    listener; finish deletions; drop objects whose finalizers are gone."""
    ctrls = arc_controllers(cluster)
    if ctrls:
        ctrl_ns = ctrls[0]["metadata"]["namespace"]
        for ars in objects_of(cluster, "actions.github.com", "AutoscalingRunnerSet"):
            md = ars["metadata"]
            lname = listener_name(ars)
            if md.get("deletionTimestamp"):
                # controller cleanup: listener, then the chart's protected objects
                for o in list(cluster["objects"].values()):
                    omd = o["metadata"]
                    labels = omd.get("labels") or {}
                    if omd["name"] == lname or (
                            labels.get("actions.github.com/scale-set-name") == md["name"]
                            and labels.get("actions.github.com/scale-set-namespace") == md.get("namespace")
                            and omd.get("deletionTimestamp")):
                        omd["finalizers"] = [f for f in omd.get("finalizers", []) if f != CLEANUP_FINALIZER]
                        if o["kind"] in ("Pod", "AutoscalingListener"):
                            omd["finalizers"] = []
                            omd.setdefault("deletionTimestamp", rfc3339(now()))
                md["finalizers"] = [f for f in md.get("finalizers", []) if f != ARS_FINALIZER]
                continue
            if ARS_FINALIZER not in md.setdefault("finalizers", []):
                md["finalizers"].append(ARS_FINALIZER)
            spec = ars.get("spec", {})
            mn = spec.get("minRunners", 0) if is_number(spec.get("minRunners")) else 0
            ars["status"] = {"currentRunners": int(mn), "pendingEphemeralRunners": 0,
                             "runningEphemeralRunners": 0, "failedEphemeralRunners": 0}
            ensure_listener(cluster, ars, lname, ctrl_ns)
    reconcile_deployments(cluster)
    # objects being deleted whose finalizers are all gone disappear, and so
    # do terminating namespaces once empty
    for o in list(cluster["objects"].values()):
        if o["metadata"].get("deletionTimestamp") and not o["metadata"].get("finalizers") \
                and o.get("kind") != "Namespace":
            purge_obj(cluster, o)
    for ns in objects_of(cluster, "", "Namespace"):
        name = ns["metadata"]["name"]
        if ns["metadata"].get("deletionTimestamp") and not any(
                o["metadata"].get("namespace") == name for o in cluster["objects"].values()):
            purge_obj(cluster, ns)


def reconcile_deployments(cluster):
    """One running pod per Deployment (via its ReplicaSet), gone with it."""
    wanted = {}
    for d in objects_of(cluster, "apps", "Deployment"):
        if d["metadata"].get("deletionTimestamp"):
            continue
        md = d["metadata"]
        n = (d.get("spec") or {}).get("replicas", 1)
        d["status"] = {"observedGeneration": md.get("generation", 1), "replicas": n, "readyReplicas": n,
                       "availableReplicas": n, "updatedReplicas": n,
                       "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                                      {"type": "Progressing", "status": "True",
                                       "reason": "NewReplicaSetAvailable"}]}
        rs = "%s-%s" % (md["name"], sha256(go_json(d.get("spec", {}).get("template", {})))[:10])
        wanted[(md["namespace"], rs)] = d
    for p in objects_of(cluster, "", "Pod"):
        owner = (p["metadata"].get("ownerReferences") or [{}])[0]
        if owner.get("kind") == "ReplicaSet" and (p["metadata"]["namespace"], owner.get("name")) not in wanted:
            purge_obj(cluster, p)
    for (ns, rs), d in wanted.items():
        if any((p["metadata"].get("ownerReferences") or [{}])[0].get("name") == rs
               for p in objects_of(cluster, "", "Pod", ns)):
            continue
        labels = dict(((d.get("spec") or {}).get("template") or {}).get("metadata", {}).get("labels") or {})
        labels["pod-template-hash"] = rs.rpartition("-")[2]
        pod = running_pod(ns, "%s-%s" % (rs, sha256(rs + ns)[:5]), labels)
        pod["metadata"]["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs,
                                               "uid": sha256("rs" + rs)[:36], "controller": True,
                                               "blockOwnerDeletion": True}]
        containers = (((d.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers")
        if containers:
            pod["spec"]["containers"] = containers
            pod["status"]["containerStatuses"] = [{"name": c.get("name", "main"), "ready": True, "restartCount": 0}
                                                  for c in containers]
        put_obj(cluster, pod)


def ensure_listener(cluster, ars, lname, ctrl_ns):
    md = ars["metadata"]
    labels = {"actions.github.com/scale-set-name": md["name"],
              "actions.github.com/scale-set-namespace": md.get("namespace", ""),
              "app.kubernetes.io/component": "runner-scale-set-listener",
              "app.kubernetes.io/part-of": "gha-runner-scale-set",
              "app.kubernetes.io/version": (md.get("labels") or {}).get("app.kubernetes.io/version", "0.14.2")}
    if get_obj(cluster, "actions.github.com", "AutoscalingListener", ctrl_ns, lname) is None and \
            type_for_kind(cluster, "actions.github.com/v1alpha1", "AutoscalingListener"):
        put_obj(cluster, {"apiVersion": "actions.github.com/v1alpha1", "kind": "AutoscalingListener",
                          "metadata": {"name": lname, "namespace": ctrl_ns, "labels": dict(labels),
                                       "finalizers": ["autoscalinglistener.actions.github.com/finalizer"]},
                          "spec": {"autoscalingRunnerSetName": md["name"],
                                   "autoscalingRunnerSetNamespace": md.get("namespace", ""),
                                   "githubConfigUrl": ars.get("spec", {}).get("githubConfigUrl", ""),
                                   "minRunners": ars.get("spec", {}).get("minRunners", 0),
                                   "maxRunners": ars.get("spec", {}).get("maxRunners", 0)}})
    if get_obj(cluster, "", "Pod", ctrl_ns, lname) is None:
        put_obj(cluster, {"apiVersion": "v1", "kind": "Pod",
                          "metadata": {"name": lname, "namespace": ctrl_ns, "labels": labels},
                          "spec": {"containers": [{"name": "listener",
                                                   "image": "ghcr.io/actions/gha-runner-scale-set-controller:0.14.2"}],
                                   "restartPolicy": "Never", "serviceAccountName": lname},
                          "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
                                     "containerStatuses": [{"name": "listener", "ready": True,
                                                            "restartCount": 0}]}})


# ----------------------------------------------------------------------------
# Invocation context
# ----------------------------------------------------------------------------

DEFAULT_VERSIONS = {"kind": "v0.27.0", "helm": "v3.16.2", "kubectl": "v1.33.1", "docker": "28.2.2"}


class Ctx:
    def __init__(self, store, cmd, stdin, latency, fault_action):
        self.store, self.cmd, self.stdin = store, cmd, stdin
        self.latency, self.fault_action = latency, fault_action
        self._slept = False

    @property
    def config(self):
        return self.store.config()

    def version(self, tool):
        return (self.config.get("versions") or {}).get(tool, DEFAULT_VERSIONS[tool])

    def sleep_latency(self):
        """The configured latency, once, outside the state lock."""
        if not self._slept:
            self._slept = True
            if self.latency > 0:
                time.sleep(self.latency)

    def docker_running(self):
        return self.config.get("docker_running", True) is not False


# ----------------------------------------------------------------------------
# kind
# ----------------------------------------------------------------------------

KIND_NAME_RE = r"^[a-z0-9.-]+$"
KIND_FIELDS = {
    "cluster": {"kind", "apiVersion", "name", "nodes", "networking", "featureGates", "runtimeConfig",
                "kubeadmConfigPatches", "kubeadmConfigPatchesJSON6902", "containerdConfigPatches",
                "containerdConfigPatchesJSON6902"},
    "node": {"role", "image", "labels", "extraMounts", "extraPortMappings", "gpus", "kubeadmConfigPatches",
             "kubeadmConfigPatchesJSON6902"},
    "mount": {"containerPath", "hostPath", "readOnly", "selinuxRelabel", "propagation"},
    "networking": {"ipFamily", "apiServerPort", "apiServerAddress", "podSubnet", "serviceSubnet",
                   "disableDefaultCNI", "kubeProxyMode", "dnsSearch"},
    "port": {"containerPort", "hostPort", "listenAddress", "protocol"},
}
DOCKER_DOWN = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"


def kind_fail(msg):
    return Fail("ERROR: " + msg)


def kind_config(text):
    """Parse a kind config like kind's encoding.Parse (strict v1alpha4)."""
    try:
        docs = yaml_load_all(text) if text.strip() else [{}]
    except YamlError as e:
        raise kind_fail("failed to create cluster: could not determine kind / apiVersion for config: %s" % e)
    cfg = docs[0] if docs else {}
    if not isinstance(cfg, dict):
        raise kind_fail("failed to create cluster: could not determine kind / apiVersion for config: error "
                        "unmarshaling JSON: while decoding JSON: json: cannot unmarshal %s into Go value of type "
                        "encoding.typeMeta" % _go_type(cfg))
    api, kind = cfg.get("apiVersion", ""), cfg.get("kind", "")
    if api != "kind.x-k8s.io/v1alpha4":
        raise kind_fail("failed to create cluster: unknown apiVersion: %s" % api)
    if kind != "Cluster":
        raise kind_fail("failed to create cluster: unknown kind %s for apiVersion: %s" % (kind, api))

    def strict(obj, fields):
        if not isinstance(obj, dict):
            raise kind_fail("failed to create cluster: unable to decode config: error unmarshaling JSON: while "
                            "decoding JSON: json: cannot unmarshal %s into Go value" % _go_type(obj))
        for k in obj:
            if k not in fields:
                raise kind_fail('failed to create cluster: unable to decode config: error unmarshaling JSON: while '
                                'decoding JSON: json: unknown field "%s"' % k)

    strict(cfg, KIND_FIELDS["cluster"])
    if "networking" in cfg:
        strict(cfg["networking"], KIND_FIELDS["networking"])
    nodes = cfg.get("nodes") or [{"role": "control-plane"}]
    for n in nodes:
        strict(n, KIND_FIELDS["node"])
        for m in n.get("extraMounts") or []:
            strict(m, KIND_FIELDS["mount"])
        for p in n.get("extraPortMappings") or []:
            strict(p, KIND_FIELDS["port"])
    cfg["nodes"] = nodes
    return cfg


def _go_type(v):
    return {list: "array", str: "string", bool: "bool", int: "number", float: "number"}.get(type(v), "object")


def kind_create_cluster(ctx):
    cmd = ctx.cmd
    if cmd.pos:
        raise kind_fail('unknown command "%s" for "kind create cluster"' % cmd.pos[0])
    wait = cmd.get("wait", "0s")
    if parse_go_duration(wait) is None:
        raise kind_fail('invalid argument "%s" for "--wait" flag: time: invalid duration "%s"' % (wait, wait))
    cfg_path = cmd.get("config")
    if cfg_path == "-":
        text = ctx.stdin or ""
    elif cfg_path:
        try:
            with open(cfg_path) as f:
                text = f.read()
        except OSError as e:
            raise kind_fail("failed to create cluster: error reading file: open %s: %s"
                            % (cfg_path, os.strerror(e.errno).lower()))
    else:
        text = "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\n"
    cfg = kind_config(text)
    name = cmd.get("name") or os.environ.get("KIND_CLUSTER_NAME") or cfg.get("name") or "kind"
    errs = []
    if not full_match(KIND_NAME_RE[1:-1], name):
        errs.append("'%s' is not a valid cluster name, cluster names must match `%s`" % (name, KIND_NAME_RE))
    roles = [n.get("role", "control-plane") for n in cfg["nodes"]]
    for i, r in enumerate(roles):
        if r not in ("control-plane", "worker"):
            errs.append('invalid configuration for node %d: "%s" is not a valid node role' % (i, r))
    if "control-plane" not in roles:
        errs.append("must have at least one control-plane node")
    if errs:
        raise kind_fail("failed to create cluster: " + (errs[0] if len(errs) == 1 else "[" + ", ".join(errs) + "]"))
    if not ctx.docker_running():
        raise kind_fail('failed to create cluster: failed to list nodes: command "docker ps -a --filter '
                        'label=io.x-k8s.kind.cluster=%s --format \'{{.Names}}\'" failed with error: exit status 1\n'
                        'Command Output: %s' % (name, DOCKER_DOWN))
    version = ctx.config.get("kubernetes_version", "v1.33.1")
    image_flag = cmd.get("image")
    ctx.sleep_latency()
    with ctx.store.transaction() as st:
        if name in st["clusters"]:
            raise kind_fail('failed to create cluster: node(s) already exist for a cluster with the name "%s"' % name)
        err('Creating cluster "%s" ...' % name)
        node_names, containers = [], []
        counts = {}
        port = 40000 + int(sha256(name)[:4], 16) % 20000
        for n in cfg["nodes"]:
            role = n.get("role", "control-plane")
            counts[role] = counts.get(role, 0) + 1
            suffix = role if counts[role] == 1 else "%s%d" % (role, counts[role])
            image = image_flag or n.get("image") or "kindest/node:" + version
            cname = "%s-%s" % (name, suffix)
            mounts, problem = docker_mounts(n.get("extraMounts") or [])
            if problem:
                err(" ✓ Ensuring node image (%s) 🖼\n ✗ Preparing nodes 📦" % image)
                binds = " ".join("--volume=%s:%s" % (m.get("hostPath", ""), m.get("containerPath", ""))
                                 for m in n.get("extraMounts") or [])
                raise kind_fail('failed to create cluster: command "docker run --name %s --hostname %s --label '
                                'io.x-k8s.kind.role=%s --privileged --security-opt seccomp=unconfined --security-opt '
                                'apparmor=unconfined --tmpfs /tmp --tmpfs /run --volume /var --volume '
                                '/lib/modules:/lib/modules:ro -e KIND_EXPERIMENTAL_CONTAINERD_SNAPSHOTTER --detach '
                                '--tty --label io.x-k8s.kind.cluster=%s --net kind --restart=on-failure:1 '
                                '--init=false --cgroupns=private %s %s" failed with error: exit status 125\n'
                                'Command Output: docker: %s'
                                % (cname, cname, role, name, binds, image, problem))
            containers.append(docker_container(cname, name, role, image, mounts,
                                               port if role == "control-plane" and counts[role] == 1 else None,
                                               n.get("labels") or {}))
            node_names.append(cname)
        image = containers[0]["Config"]["Image"]
        version = image.rpartition(":")[2].split("@")[0] or version
        for c in containers:
            st["docker"]["containers"][c["Name"][1:]] = c
        cluster = {"name": name, "created": now(), "kubernetes_version": version, "api_port": port,
                   "nodes": node_names, "objects": {}, "releases": {}, "rv": 1000}
        seed_cluster(cluster, node_names)
        st["clusters"][name] = cluster
    w = parse_go_duration(wait) or 0
    err(" ✓ Ensuring node image (%s) 🖼\n ✓ Preparing nodes 📦\n ✓ Writing configuration 📜\n"
        " ✓ Starting control-plane 🕹️\n ✓ Installing CNI 🔌\n ✓ Installing StorageClass 💾" % image)
    if w > 0:
        err(" ✓ Waiting ≤ %s for control-plane = Ready ⏳\n • Ready after 15s 💚" % go_duration_str(w))
    err('Set kubectl context to "kind-%s"\nYou can now use your cluster with:\n\nkubectl cluster-info --context '
        'kind-%s\n\nHave a nice day! 👋' % (name, name))


def go_duration_str(seconds):
    s = int(seconds)
    h, m, s = s // 3600, (s % 3600) // 60, s % 60
    if h:
        return "%dh%dm%ds" % (h, m, s)
    if m:
        return "%dm%ds" % (m, s)
    return "%ds" % s


def docker_mounts(extra):
    """docker inspect Mounts for kind extraMounts, or the daemon's refusal
    (kind passes hostPath to `docker run --volume` unchanged)."""
    mounts = []
    for m in extra:
        host, dest = str(m.get("hostPath", "")), str(m.get("containerPath", ""))
        if not host or not dest:
            return None, "Error response from daemon: invalid spec: %s:%s: empty section between colons" % (host, dest)
        if not dest.startswith("/"):
            return None, ("Error response from daemon: invalid volume specification: '%s:%s': invalid mount config "
                          "for type \"bind\": invalid mount path: '%s' mount path must be absolute" % (host, dest, dest))
        prop = {"Bidirectional": "rshared", "HostToContainer": "rslave"}.get(m.get("propagation"), "rprivate")
        rw = not m.get("readOnly", False)
        if host.startswith("/"):
            mounts.append({"Type": "bind", "Source": os.path.normpath(host), "Destination": dest,
                           "Mode": "" if rw else "ro", "RW": rw, "Propagation": prop})
        elif full_match(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*", host):
            # not a path: docker makes it a named volume, silently
            mounts.append({"Type": "volume", "Name": host, "Source": "/var/lib/docker/volumes/%s/_data" % host,
                           "Destination": dest, "Driver": "local", "Mode": "z" if rw else "ro", "RW": rw,
                           "Propagation": ""})
        else:
            return None, ('Error response from daemon: create %s: "%s" includes invalid characters for a local '
                          'volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a '
                          'host directory, use absolute path' % (host, host))
    return mounts, None


def docker_container(cname, cluster, role, image, mounts, port, node_labels):
    cid = sha256("container:" + cname + str(now()))
    vol = sha256("var:" + cid)
    t = rfc3339nano(now())
    builtin = [{"Type": "volume", "Name": vol, "Source": "/var/lib/docker/volumes/%s/_data" % vol,
                "Destination": "/var", "Driver": "local", "Mode": "", "RW": True, "Propagation": ""},
               {"Type": "bind", "Source": "/lib/modules", "Destination": "/lib/modules", "Mode": "ro",
                "RW": False, "Propagation": "rprivate"}]
    ports = {"6443/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]} if port else {}
    return {
        "Id": cid, "Created": t, "Path": "/usr/local/bin/entrypoint", "Args": ["/sbin/init"],
        "State": {"Status": "running", "Running": True, "Paused": False, "Restarting": False, "OOMKilled": False,
                  "Dead": False, "Pid": 4242, "ExitCode": 0, "Error": "", "StartedAt": t,
                  "FinishedAt": "0001-01-01T00:00:00Z"},
        "Image": "sha256:" + sha256("image:" + image), "Name": "/" + cname, "RestartCount": 0,
        "HostConfig": {"Binds": ["%s:%s%s" % (m["Source"] if m["Type"] == "bind" else m["Name"], m["Destination"],
                                              "" if m["RW"] else ":ro") for m in mounts],
                       "NetworkMode": "kind", "PortBindings": ports, "RestartPolicy": {"Name": "on-failure",
                                                                                       "MaximumRetryCount": 1},
                       "Privileged": True},
        "Mounts": mounts + builtin,
        "Config": {"Hostname": cname, "Image": image, "Labels": {"io.x-k8s.kind.cluster": cluster,
                                                                   "io.x-k8s.kind.role": role}},
        "NetworkSettings": {"Ports": ports, "Networks": {"kind": {"IPAddress": "172.18.0.2", "Gateway": "172.18.0.1"}}},
    }


def seed_cluster(cluster, node_names):
    """What a fresh kind cluster has."""
    for ns in ("default", "kube-system", "kube-public", "kube-node-lease", "local-path-storage"):
        make_namespace(cluster, ns)
    put_obj(cluster, {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                      "metadata": {"name": "standard",
                                   "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
                      "provisioner": "rancher.io/local-path", "reclaimPolicy": "Delete",
                      "volumeBindingMode": "WaitForFirstConsumer"})
    for n in node_names:
        role = "control-plane" if "control-plane" in n else "worker"
        labels = {"kubernetes.io/hostname": n, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}
        if role == "control-plane":
            labels["node-role.kubernetes.io/control-plane"] = ""
        put_obj(cluster, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": n, "labels": labels},
                          "spec": {}, "status": {"conditions": [{"type": "Ready", "status": "True"}],
                                                 "nodeInfo": {"kubeletVersion": cluster["kubernetes_version"]}}})
    for ns, name in (("kube-system", "coredns"), ("local-path-storage", "local-path-provisioner")):
        put_obj(cluster, deployment(ns, name, {"app.kubernetes.io/name": name}))
    reconcile(cluster)


def deployment(ns, name, labels, extra_md=None):
    md = {"name": name, "namespace": ns, "labels": dict(labels)}
    md.update(extra_md or {})
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": md,
            "spec": {"replicas": 1, "selector": {"matchLabels": dict(labels)},
                     "template": {"metadata": {"labels": dict(labels)}, "spec": {"containers": []}}},
            "status": {"replicas": 1, "readyReplicas": 1, "availableReplicas": 1, "updatedReplicas": 1,
                       "conditions": [{"type": "Available", "status": "True"},
                                      {"type": "Progressing", "status": "True"}]}}


def running_pod(ns, name, labels):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns, "labels": dict(labels)},
            "spec": {"containers": [{"name": "main"}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
                       "containerStatuses": [{"name": "main", "ready": True, "restartCount": 0}]}}


def kind_delete_cluster(ctx):
    cmd = ctx.cmd
    if cmd.pos:
        raise kind_fail('unknown command "%s" for "kind delete cluster"' % cmd.pos[0])
    name = cmd.get("name") or os.environ.get("KIND_CLUSTER_NAME") or "kind"
    if not ctx.docker_running():
        raise kind_fail('failed to delete cluster "%s": failed to list nodes: command "docker ps -a --filter '
                        'label=io.x-k8s.kind.cluster=%s --format \'{{.Names}}\'" failed with error: exit status 1\n'
                        'Command Output: %s' % (name, name, DOCKER_DOWN))
    ctx.sleep_latency()
    err('Deleting cluster "%s" ...' % name)
    with ctx.store.transaction() as st:
        nodes = remove_cluster(st, name)
    if nodes:
        err("Deleted nodes: [%s]" % " ".join('"%s"' % n for n in nodes))


def remove_cluster(st, name):
    cluster = st["clusters"].pop(name, None)
    nodes = [n for n, c in sorted(st["docker"]["containers"].items())
             if c["Config"]["Labels"].get("io.x-k8s.kind.cluster") == name]
    for n in nodes:
        del st["docker"]["containers"][n]
    return nodes if cluster or nodes else []


def kind_delete_clusters(ctx):
    cmd = ctx.cmd
    ctx.sleep_latency()
    with ctx.store.transaction() as st:
        names = sorted(st["clusters"]) if cmd.get("all") else cmd.pos
        deleted = [n for n in names if remove_cluster(st, n)]
    err("Deleted clusters: [%s]" % " ".join('"%s"' % n for n in deleted))


def kind_get_clusters(ctx):
    if not ctx.docker_running():
        raise kind_fail('failed to list clusters: command "docker ps -a --filter label=io.x-k8s.kind.cluster '
                        '--format \'{{index .Labels "io.x-k8s.kind.cluster"}}\'" failed with error: exit status 1\n'
                        'Command Output: ' + DOCKER_DOWN)
    ctx.sleep_latency()
    names = sorted(ctx.store.read()["clusters"])
    if not names:
        err("No kind clusters found.")
    for n in names:
        out(n)


def kind_get_nodes(ctx):
    name = ctx.cmd.get("name") or os.environ.get("KIND_CLUSTER_NAME") or "kind"
    ctx.sleep_latency()
    cluster = ctx.store.read()["clusters"].get(name)
    if not cluster:
        err('No kind nodes found for cluster "%s".' % name)
        return
    for n in cluster["nodes"]:
        out(n)


def kind_get_kubeconfig(ctx):
    name = ctx.cmd.get("name") or os.environ.get("KIND_CLUSTER_NAME") or "kind"
    cluster = ctx.store.read()["clusters"].get(name)
    if not cluster:
        raise kind_fail("could not locate any control plane nodes for cluster named '%s'. Use the --name option "
                        "to select a different cluster" % name)
    if ctx.cmd.words[0] == "export":
        err('Set kubectl context to "kind-%s"' % name)
        return
    server = "https://%s:%d" % ("kind-control-plane" if ctx.cmd.get("internal") else "127.0.0.1",
                                cluster["api_port"])
    out(yaml_dump({"apiVersion": "v1", "kind": "Config", "current-context": "kind-" + name, "preferences": {},
                   "clusters": [{"name": "kind-" + name, "cluster": {"server": server,
                                                                      "certificate-authority-data": b64("fake-ca")}}],
                   "contexts": [{"name": "kind-" + name, "context": {"cluster": "kind-" + name, "user": "kind-" + name}}],
                   "users": [{"name": "kind-" + name, "user": {"client-certificate-data": b64("fake-cert"),
                                                                "client-key-data": b64("fake-key")}}]}))


def kind_version(ctx):
    out("kind %s go1.23.6 linux/amd64" % ctx.version("kind"))


KIND_GLOBAL = flagspec("verbosity|v:str", "quiet|q", "loglevel:str", "help|h", "version")
KIND_COMMANDS = {
    ("create", "cluster"): (flagspec("name|n:str", "config:str", "image:str", "retain", "wait:str",
                                     "kubeconfig:str"), kind_create_cluster),
    ("delete", "cluster"): (flagspec("name|n:str", "kubeconfig:str"), kind_delete_cluster),
    ("delete", "clusters"): (flagspec("all|A", "kubeconfig:str"), kind_delete_clusters),
    ("get", "clusters"): ({}, kind_get_clusters),
    ("get", "nodes"): (flagspec("name|n:str", "all-clusters|A"), kind_get_nodes),
    ("get", "kubeconfig"): (flagspec("name|n:str", "internal"), kind_get_kubeconfig),
    ("export", "kubeconfig"): (flagspec("name|n:str", "internal", "kubeconfig:str"), kind_get_kubeconfig),
    ("version",): ({}, kind_version),
    ("load", "docker-image"): (flagspec("name|n:str", "nodes:str"), None),
    ("load", "image-archive"): (flagspec("name|n:str", "nodes:str"), None),
    ("build", "node-image"): ({}, None),
    ("export", "logs"): (flagspec("name|n:str"), None),
}


def kind_usage(words, unknown, flag_error=None):
    if flag_error:
        return kind_fail(flag_error)
    if unknown:
        return kind_fail('unknown command "%s" for "kind"' % unknown)
    return Fail("kind creates and manages local Kubernetes clusters using Docker container 'nodes'\n\n"
                "Usage:\n  kind [command]", 0)


def kind_stdin_wanted(cmd):
    return cmd.words == ["create", "cluster"] and cmd.get("config") == "-"


# ----------------------------------------------------------------------------
# docker
# ----------------------------------------------------------------------------

def docker_fail(msg, code=1):
    return Fail(msg, code)


def docker_require_daemon(ctx):
    if not ctx.docker_running():
        raise docker_fail(DOCKER_DOWN)


def docker_version_data(ctx):
    v = ctx.version("docker")
    client = {"Platform": {"Name": "Docker Engine - Community"}, "Version": v, "ApiVersion": "1.50",
              "DefaultAPIVersion": "1.50", "GitCommit": "e6534b4", "GoVersion": "go1.24.3", "Os": "linux",
              "Arch": "amd64", "BuildTime": "Fri May 30 12:07:26 2025", "Context": "default"}
    server = {"Platform": {"Name": "Docker Engine - Community"}, "Version": v, "ApiVersion": "1.50",
              "MinAPIVersion": "1.24", "GitCommit": "45873be", "GoVersion": "go1.24.3", "Os": "linux",
              "Arch": "amd64", "KernelVersion": "6.8.0-60-generic", "BuildTime": "2025-05-30T12:07:26.000000000+00:00",
              "Components": [{"Name": "Engine", "Version": v}]} if ctx.docker_running() else None
    return {"Client": client, "Server": server}


def docker_version(ctx):
    data = docker_version_data(ctx)
    fmt = ctx.cmd.get("format")
    if fmt:
        if fmt == "json":
            fmt = "{{json .}}"
        out(go_template(fmt, data, "docker"))
    else:
        c = data["Client"]
        out("Client: Docker Engine - Community\n Version:           %s\n API version:       1.50\n Go version:        "
            "go1.24.3\n Git commit:        e6534b4\n Built:             Fri May 30 12:07:26 2025\n OS/Arch:           "
            "linux/amd64\n Context:           default" % c["Version"])
        if data["Server"]:
            out("\nServer: Docker Engine - Community\n Engine:\n  Version:          %s\n  API version:      1.50 "
                "(minimum version 1.24)\n  Go version:       go1.24.3\n  Git commit:       45873be\n  Built:            "
                "Fri May 30 12:07:26 2025\n  OS/Arch:          linux/amd64\n  Experimental:     false"
                % data["Server"]["Version"])
    if not data["Server"]:
        raise docker_fail(DOCKER_DOWN)


def docker_info(ctx):
    st = ctx.store.read()
    cs = list(st["docker"]["containers"].values())
    running = sum(1 for c in cs if c["State"]["Running"])
    v = ctx.version("docker")
    info = {"ID": "FAKE:DOCKER:ID", "Containers": len(cs), "ContainersRunning": running, "ContainersPaused": 0,
            "ContainersStopped": len(cs) - running, "Images": 1, "Driver": "overlay2", "ServerVersion": v,
            "CgroupDriver": "systemd", "CgroupVersion": "2", "KernelVersion": "6.8.0-60-generic",
            "OperatingSystem": "Ubuntu 24.04.2 LTS", "OSType": "linux", "Architecture": "x86_64", "NCPU": 8,
            "MemTotal": 33503289344, "Name": "fakehost", "DockerRootDir": "/var/lib/docker",
            "ClientInfo": {"Version": v, "Context": "default", "Debug": False}}
    fmt = ctx.cmd.get("format")
    if not ctx.docker_running():
        if fmt:
            raise docker_fail(DOCKER_DOWN)
        out("Client:\n Version:    %s\n Context:    default\n Debug Mode: false\n\nServer:" % v)
        raise docker_fail("ERROR: " + DOCKER_DOWN + "\nerrors pretty printing info")
    if fmt:
        out(go_template("{{json .}}" if fmt == "json" else fmt, info, "docker"))
        return
    out("Client:\n Version:    %s\n Context:    default\n Debug Mode: false\n\nServer:\n Containers: %d\n  Running: %d\n"
        "  Paused: 0\n  Stopped: %d\n Images: 1\n Server Version: %s\n Storage Driver: overlay2\n Cgroup Driver: "
        "systemd\n Cgroup Version: 2\n Kernel Version: 6.8.0-60-generic\n Operating System: Ubuntu 24.04.2 LTS\n "
        "OSType: linux\n Architecture: x86_64\n CPUs: 8\n Total Memory: 31.2GiB\n Name: fakehost\n Docker Root Dir: "
        "/var/lib/docker" % (v, len(cs), running, len(cs) - running, v))


def docker_inspect(ctx):
    cmd = ctx.cmd
    if not cmd.pos:
        raise docker_fail('"docker inspect" requires at least 1 argument.\nSee \'docker inspect --help\'.\n\n'
                          'Usage:  docker inspect [OPTIONS] NAME|ID [NAME|ID...]\n\n'
                          'Return low-level information on Docker objects', 1)
    typ = cmd.get("type")
    if typ not in (None, "", "container", "image", "volume", "network", "node", "service", "task", "plugin",
                   "secret", "config"):
        raise docker_fail('"%s" is not a valid value for --type' % typ)
    docker_require_daemon(ctx)
    ctx.sleep_latency()
    containers = ctx.store.read()["docker"]["containers"]
    found, missing = [], []
    for name in cmd.pos:
        c = containers.get(name.lstrip("/")) or next(
            (c for c in containers.values() if len(name) >= 3 and c["Id"].startswith(name)), None)
        if c and typ in (None, "", "container"):
            found.append(c)
        else:
            missing.append(name)
    fmt = cmd.get("format")
    if fmt and fmt != "json":
        for c in found:
            out(go_template(fmt, c, "docker"))
    else:
        out(go_indent_json(found, sort=False) if found else "[]")
    if missing:
        what = "container" if typ == "container" else "object"
        raise docker_fail("\n".join("Error: No such %s: %s" % (what, m) for m in missing))


def docker_ps(ctx):
    cmd = ctx.cmd
    docker_require_daemon(ctx)
    ctx.sleep_latency()
    cs = sorted(ctx.store.read()["docker"]["containers"].values(), key=lambda c: c["Name"])
    if not cmd.get("all"):
        cs = [c for c in cs if c["State"]["Running"]]
    for f in cmd.get("filter", []):
        k, _, v = f.partition("=")
        if k == "label":
            lk, eq, lv = v.partition("=")
            cs = [c for c in cs if lk in c["Config"]["Labels"] and (not eq or c["Config"]["Labels"][lk] == lv)]
        elif k == "name":
            cs = [c for c in cs if v in c["Name"]]
        elif k == "status":
            cs = [c for c in cs if c["State"]["Status"] == v]
        else:
            raise docker_fail('Error response from daemon: invalid filter \'%s\'' % k)
    rows = [{"ID": c["Id"][:12], "Image": c["Config"]["Image"], "Command": '"/usr/local/bin/entrypoint /sbin/init"',
             "Names": c["Name"][1:], "Labels": ",".join("%s=%s" % kv for kv in sorted(c["Config"]["Labels"].items())),
             "State": c["State"]["Status"],
             "Status": "Up 5 minutes" if c["State"]["Running"] else "Exited (0) 1 minute ago"} for c in cs]
    if cmd.get("quiet"):
        for r in rows:
            out(r["ID"])
        return
    fmt = cmd.get("format")
    if fmt:
        for c, r in zip(cs, rows):
            data = dict(r)
            data["Labels"] = c["Config"]["Labels"]
            out(go_json(r) if fmt == "json" else go_template(fmt, data, "docker"))
        return
    out("CONTAINER ID   IMAGE                  COMMAND                  CREATED         STATUS         PORTS     NAMES")
    for r in rows:
        out("%-14s %-22s %-24s %-15s %-14s %-9s %s" % (r["ID"], r["Image"][:22], r["Command"][:24], "5 minutes ago",
                                                      r["Status"], "", r["Names"]))


def docker_start_stop(ctx):
    cmd = ctx.cmd
    verb = cmd.words[0]
    if not cmd.pos:
        raise docker_fail('"docker %s" requires at least 1 argument.' % verb)
    docker_require_daemon(ctx)
    ctx.sleep_latency()
    missing = []
    with ctx.store.transaction() as st:
        for name in cmd.pos:
            c = st["docker"]["containers"].get(name)
            if not c:
                missing.append(name)
                continue
            running = verb != "stop"
            c["State"].update({"Running": running, "Status": "running" if running else "exited",
                               "ExitCode": 0 if running else 137})
            out(name)
    if missing:
        raise docker_fail("\n".join("Error response from daemon: No such container: %s" % m for m in missing))


DOCKER_GLOBAL = flagspec("host|H:list", "context|c:str", "config:str", "debug|D", "log-level|l:str", "tls",
                         "tlsverify", "tlscacert:str", "tlscert:str", "tlskey:str")
DOCKER_COMMANDS = {
    ("version",): (flagspec("format|f:str"), docker_version),
    ("info",): (flagspec("format|f:str"), docker_info),
    ("inspect",): (flagspec("format|f:str", "type:str", "size|s"), docker_inspect),
    ("container", "inspect"): (flagspec("format|f:str", "size|s"), docker_inspect),
    ("ps",): (flagspec("all|a", "filter|f:list", "format:str", "quiet|q", "no-trunc", "last|n:str", "latest|l",
                       "size|s"), docker_ps),
    ("container", "ls"): (flagspec("all|a", "filter|f:list", "format:str", "quiet|q", "no-trunc"), docker_ps),
    ("stop",): (flagspec("time|t:str", "signal|s:str"), docker_start_stop),
    ("start",): (flagspec("attach|a", "interactive|i"), docker_start_stop),
    ("restart",): (flagspec("time|t:str", "signal|s:str"), docker_start_stop),
    ("exec",): ({}, None), ("run",): ({}, None), ("rm",): ({}, None), ("logs",): ({}, None),
    ("network",): ({}, None), ("volume",): ({}, None), ("images",): ({}, None), ("pull",): ({}, None),
}


def docker_usage(words, unknown, flag_error=None):
    if flag_error:
        return Fail("%s\nSee 'docker %s --help'." % (flag_error, " ".join(words or [])), 125)
    if unknown:
        return Fail("docker: '%s' is not a docker command.\nSee 'docker --help'" % unknown, 1)
    return Fail("Usage:  docker [OPTIONS] COMMAND", 0)


# ----------------------------------------------------------------------------
# helm
# ----------------------------------------------------------------------------

ARC_REPO = "ghcr.io/actions/actions-runner-controller-charts"
CONTROLLER_CHART = "gha-runner-scale-set-controller"
SCALE_SET_CHART = "gha-runner-scale-set"
RELEASE_NAME_RE = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
HELM_SYSTEM_LABELS = ["name", "owner", "status", "version", "createdAt", "modifiedAt"]
HELM_BUILD = {"Version": None, "GitCommit": "13654a52f7c70a143b1dd51416d633e1071faffb", "GitTreeState": "clean",
              "GoVersion": "go1.22.7"}
ERR_PENDING = "another operation (install/upgrade/rollback) is in progress"

# The four ARC CRDs (the controller chart's crds/), without their large schemas.
ARC_CRDS = [("autoscalinglisteners", "AutoscalingListener"), ("autoscalingrunnersets", "AutoscalingRunnerSet"),
            ("ephemeralrunners", "EphemeralRunner"), ("ephemeralrunnersets", "EphemeralRunnerSet")]

ARC_CHART_META = {
    "apiVersion": "v2", "type": "application", "home": "https://github.com/actions/actions-runner-controller",
    "sources": ["https://github.com/actions/actions-runner-controller"],
    "maintainers": [{"name": "actions", "url": "https://github.com/actions"}],
}
ARC_DEFAULTS = {
    SCALE_SET_CHART: {"githubConfigUrl": "", "scaleSetLabels": [], "githubConfigSecret": {"github_token": ""},
                      "template": {"spec": {"containers": [{"name": "runner",
                                                            "image": "ghcr.io/actions/actions-runner:latest",
                                                            "command": ["/home/runner/run.sh"]}]}},
                      "namespaceOverride": ""},
    CONTROLLER_CHART: {"labels": {}, "replicaCount": 1,
                       "image": {"repository": "ghcr.io/actions/gha-runner-scale-set-controller",
                                 "pullPolicy": "IfNotPresent", "tag": ""},
                       "imagePullSecrets": [], "nameOverride": "", "fullnameOverride": "", "env": None,
                       "serviceAccount": {"create": True, "annotations": {}, "name": ""}, "podAnnotations": {},
                       "podLabels": {}, "podSecurityContext": {}, "securityContext": {}, "resources": {},
                       "nodeSelector": {}, "tolerations": [], "affinity": {}, "topologySpreadConstraints": [],
                       "volumes": [], "volumeMounts": [], "priorityClassName": "", "pprof": {},
                       "flags": {"logLevel": "debug", "logFormat": "text", "runnerMaxConcurrentReconciles": 2},
                       "namespaceOverride": ""},
}


class Chart:
    def __init__(self, name, version, app_version, path=None, meta=None, defaults=None):
        self.name, self.version, self.app_version = name, version, app_version
        self.path = path          # chart directory, when we have the chart's files
        self.meta = meta or {}
        self.defaults = defaults or {}

    @property
    def label(self):
        return "%s-%s" % (self.name, self.version)

    def metadata(self):
        md = {"name": self.name, "version": self.version}
        md.update({k: v for k, v in self.meta.items() if k not in ("name", "version")})
        if self.app_version:
            md["appVersion"] = self.app_version
        return md


def semver_key(v):
    import re
    nums = [int(x) for x in re.findall(r"\d+", v.split("-")[0])[:3]]
    return nums + [0] * (3 - len(nums)) + [0 if "-" in v else 1]


def read_chart_dir(path):
    """(meta, defaults) from Chart.yaml / values.yaml; raises helm's errors."""
    try:
        with open(os.path.join(path, "Chart.yaml")) as f:
            meta = yaml_load(f.read()) or {}
    except FileNotFoundError:
        raise Fail("Chart.yaml file is missing")
    except YamlError as e:
        raise Fail("cannot load Chart.yaml: %s" % e)
    for field in ("apiVersion", "name", "version"):
        if not meta.get(field):
            raise Fail("validation: chart.metadata.%s is required" % field)
    defaults = {}
    try:
        with open(os.path.join(path, "values.yaml")) as f:
            defaults = yaml_load(f.read()) or {}
    except FileNotFoundError:
        pass
    except YamlError as e:
        raise Fail("cannot load values.yaml: %s" % e)
    return meta, defaults


def locate_chart(ctx, ref, version):
    """helm's LocateChart + loader.Load, for the ARC OCI charts and local dirs."""
    cfg = ctx.config
    if ref.startswith("oci://"):
        path = ref[len("oci://"):]
        repo, _, name = path.rpartition("/")
        versions = cfg.get("chart_versions") or ["0.14.2"]
        if not version:
            version = max(versions, key=semver_key)
        version = version[1:] if version.startswith("v") and version[1:] in versions else version
        if repo != ARC_REPO or name not in (CONTROLLER_CHART, SCALE_SET_CHART) or version not in versions:
            raise Fail('failed to perform "FetchReference" on source: %s:%s: not found' % (path, version))
        meta, defaults = dict(ARC_CHART_META), deepcopy(ARC_DEFAULTS[name])
        chart_dir = None
        charts_dir = cfg.get("charts_dir")
        if charts_dir and os.path.isdir(os.path.join(charts_dir, name)):
            try:
                m, d = read_chart_dir(os.path.join(charts_dir, name))
                if str(m.get("version")) == version:
                    meta, defaults, chart_dir = m, d, os.path.join(charts_dir, name)
            except Fail:
                pass
        meta.setdefault("description", "A Helm chart for deploying an AutoScalingRunnerSet" if name == SCALE_SET_CHART
                        else "A Helm chart for install actions-runner-controller CRD")
        return Chart(name, version, str(meta.get("appVersion", version)), chart_dir, meta, defaults)
    if os.path.isdir(ref):
        meta, defaults = read_chart_dir(ref)
        return Chart(str(meta["name"]), str(meta["version"]), str(meta.get("appVersion", "") or ""),
                     os.path.abspath(ref), meta, defaults)
    if os.path.isfile(ref):
        raise unsupported("helm with a packaged chart archive (%s)" % ref)
    if os.path.isabs(ref) or ref.startswith("."):
        raise Fail('path "%s" not found' % ref)
    if "/" in ref:
        raise Fail("repo %s not found" % ref.split("/")[0])
    raise Fail("non-absolute URLs should be in form of repo_name/path_to_chart, got: %s" % ref)


def merge_maps(a, b):
    """helm's mergeMaps for -f files: b over a, recursively."""
    res = dict(a)
    for k, v in b.items():
        if isinstance(v, dict) and isinstance(res.get(k), dict):
            res[k] = merge_maps(res[k], v)
        else:
            res[k] = v
    return res


def coalesce(defaults, user):
    """chart defaults under user values; a user null deletes the key."""
    res = deepcopy(defaults)
    for k, v in user.items():
        if v is None:
            res.pop(k, None)
        elif isinstance(v, dict) and isinstance(res.get(k), dict):
            res[k] = coalesce(res[k], v)
        else:
            res[k] = deepcopy(v)
    return res


def set_value(vals, path, value):
    keys = path.split(".")
    cur = vals
    for k in keys[:-1]:
        if not isinstance(cur.get(k), dict):
            cur[k] = {}
        cur = cur[k]
    cur[keys[-1]] = value


def typed(text):
    if text in ("true", "false"):
        return text == "true"
    if text == "null":
        return None
    try:
        return int(text)
    except ValueError:
        return text


def user_values(ctx, prefix):
    """Merged -f/--values files (in order; "-" is stdin), then --set flags."""
    base = {}
    stdin_used = False
    for path in ctx.cmd.get("values", []):
        if path == "-":
            text = "" if stdin_used else (ctx.stdin or "")
            stdin_used = True
        else:
            try:
                with open(path) as f:
                    text = f.read()
            except OSError as e:
                raise Fail("%sopen %s: %s" % (prefix, path, os.strerror(e.errno).lower()))
        try:
            docs = yaml_load_all(text)
        except YamlError as e:
            raise Fail("%sfailed to parse %s: %s" % (prefix, path, e))
        doc = docs[0] if docs else {}
        if not isinstance(doc, dict):
            raise Fail("%sfailed to parse %s: error unmarshaling JSON: while decoding JSON: json: cannot unmarshal "
                       "%s into Go value of type map[string]interface {}" % (prefix, path, _go_type(doc)))
        base = merge_maps(base, doc)
    for flag, conv in (("set", typed), ("set-string", str)):
        for item in ctx.cmd.get(flag, []):
            for part in item.split(","):
                k, eq, v = part.partition("=")
                if not eq:
                    raise Fail("%sfailed parsing --%s data: key \"%s\" has no value" % (prefix, flag, k))
                set_value(base, k, conv(v))
    return base


def parse_labels(text):
    labels = {}
    if not text:
        return labels
    for item in text.split(","):
        k, eq, v = item.partition("=")
        if not eq:
            raise Fail('invalid argument "%s" for "-l, --labels" flag: %s must be formatted as key=value' % (text, item))
        labels[k] = v
    return labels


def helm_cluster(ctx, st, prefix=""):
    """The cluster behind --kube-context, or helm's 'unreachable' error."""
    context = ctx.cmd.get("kube-context")
    if not context:
        raise Fail('%sKubernetes cluster unreachable: Get "http://localhost:8080/version": dial tcp '
                   '127.0.0.1:8080: connect: connection refused' % prefix)
    cluster = cluster_for_context(st, context)
    if cluster is None:
        raise Fail('%sKubernetes cluster unreachable: context "%s" does not exist' % (prefix, context))
    if not node_running(st, cluster):
        raise Fail('%sKubernetes cluster unreachable: Get "https://127.0.0.1:%d/version": dial tcp 127.0.0.1:%d: '
                   'connect: connection refused' % (prefix, cluster["api_port"], cluster["api_port"]))
    return cluster


def rel_key(ns, name):
    return "%s/%s" % (ns, name)


def history(cluster, ns, name):
    return cluster["releases"].get(rel_key(ns, name), [])


def release_json(rel, with_chart=True):
    info = {"first_deployed": rfc3339nano(rel["first_deployed"]), "last_deployed": rfc3339nano(rel["last_deployed"]),
            "deleted": rfc3339nano(rel["deleted"]) if rel.get("deleted") else "", "description": rel["description"],
            "status": rel["status"]}
    if rel.get("notes"):
        info["notes"] = rel["notes"]
    obj = {"name": rel["name"], "info": info}
    if with_chart:
        obj["chart"] = {"metadata": rel["chart"], "lock": None, "templates": [], "values": rel.get("chart_values", {}),
                        "schema": None, "files": []}
    obj.update({"config": rel["config"], "manifest": manifest_of(rel), "version": rel["version"],
                "namespace": rel["namespace"]})
    return obj


def print_status(ctx, rel, fmt):
    if fmt == "json":
        out(go_struct_json(release_json(rel)))
        return
    if fmt == "yaml":
        out(yaml_dump(release_json(rel)))
        return
    out("NAME: %s\nLAST DEPLOYED: %s\nNAMESPACE: %s\nSTATUS: %s\nREVISION: %d\nTEST SUITE: None"
        % (rel["name"], ansic(rel["last_deployed"]), rel["namespace"], rel["status"], rel["version"]))
    if rel.get("notes") and not ctx.cmd.get("hide-notes"):
        out("NOTES:\n" + rel["notes"])


def check_output_format(fmt):
    if fmt not in (None, "", "table", "json", "yaml"):
        raise Fail('invalid argument "%s" for "-o, --output" flag: invalid format type' % fmt)
    return fmt or "table"


def parse_timeout(ctx, default="5m0s"):
    text = ctx.cmd.get("timeout", default)
    secs = parse_go_duration(text)
    if secs is None:
        raise Fail('invalid argument "%s" for "--timeout" flag: time: invalid duration "%s"' % (text, text))
    return secs


# ---- rendering --------------------------------------------------------------------

class TemplateError(Exception):
    """A chart refused its values (helm's render error text)."""


def exec_error(tpl, line, col, msg):
    return TemplateError("execution error at (%s:%d:%d): %s" % (tpl, line, col, msg))


def base_meta(name, ns, labels, annotations=None, finalizers=None):
    md = {"name": name, "labels": labels}
    if ns is not None:
        md["namespace"] = ns
    if annotations:
        md["annotations"] = annotations
    if finalizers:
        md["finalizers"] = finalizers
    return md


def controller_lookup(cluster, vals, ns):
    """The scale-set chart's `lookup` of the gha-rs-controller Deployment
    (managerServiceAccountName / ...Namespace in _helpers.tpl)."""
    tpl = SCALE_SET_CHART + "/templates/manager_role_binding.yaml"
    csa = vals.get("controllerServiceAccount") or {}
    result = {}
    for field, line, col, label in (("name", 42, 11, "actions.github.com/controller-service-account-name"),
                                    ("namespace", 43, 16, "actions.github.com/controller-service-account-namespace")):
        if isinstance(csa, dict) and truthy(csa.get(field)):
            result[field] = go_str(csa[field])
            continue
        multi, single = [], {}
        for d in objects_of(cluster, "apps", "Deployment"):
            labels = d["metadata"].get("labels") or {}
            if labels.get(ARC_PART_OF) != "gha-rs-controller":
                continue
            if "actions.github.com/controller-watch-single-namespace" in labels:
                single[labels["actions.github.com/controller-watch-single-namespace"]] = d
            else:
                multi.append(d)
        hint = "Consider setting controllerServiceAccount.%s in values.yaml to be explicit if you think the " \
               "discovery is wrong." % field
        if not multi and not single:
            raise exec_error(tpl, line, col, "No gha-rs-controller deployment found using label "
                                             "(app.kubernetes.io/part-of=gha-rs-controller). " + hint)
        if multi and single:
            raise exec_error(tpl, line, col, "Found both gha-rs-controller installed with flags.watchSingleNamespace "
                                             "set and unset in cluster, this is not supported. " + hint)
        if len(multi) > 1:
            raise exec_error(tpl, line, col, "More than one gha-rs-controller deployment found using label "
                                             "(app.kubernetes.io/part-of=gha-rs-controller). " + hint)
        if multi:
            dep = multi[0]
        elif ns in single:
            dep = single[ns]
        else:
            raise exec_error(tpl, line, col, "No gha-rs-controller deployment that watch this namespace found using "
                                             "label (actions.github.com/controller-watch-single-namespace). " + hint)
        value = (dep["metadata"].get("labels") or {}).get(label, "")
        if not value:
            raise exec_error(tpl, line, col, "No service account %s found for gha-rs-controller deployment using "
                                             "label (%s), consider setting controllerServiceAccount.%s in values.yaml "
                                             "to be explicit if you think the discovery is wrong." % (field, label, field))
        result[field] = value
    return result["name"], result["namespace"]


def render_scale_set(rel_name, ns, chart, vals, cluster, kube_minor):
    """The gha-runner-scale-set chart, template by template in helm's order
    (no_permission_serviceaccount, manager_role_binding, ..., githubsecret,
    autoscalingrunnerset): same refusals, same objects (container-mode
    details approximated; render through arc-render for the exact spec)."""
    tpl = SCALE_SET_CHART + "/templates/"
    ssn = go_str(vals.get("runnerScaleSetName")) if truthy(vals.get("runnerScaleSetName")) else rel_name
    target_ns = go_str(vals["namespaceOverride"]) if truthy(vals.get("namespaceOverride")) else ns
    fullname = ("%s-gha-rs" % ssn)[:63].rstrip("-")
    fn = fullname.replace("_", "-")
    mode = (vals.get("containerMode") or {}).get("type") if isinstance(vals.get("containerMode"), dict) else None
    tspec = ((vals.get("template") or {}).get("spec") or {}) if isinstance(vals.get("template"), dict) else {}
    custom_sa = tspec.get("serviceAccountName")
    base = {"helm.sh/chart": ("gha-rs-%s" % chart.version).replace("+", "_")[:63].rstrip("-"),
            "app.kubernetes.io/name": ssn, "app.kubernetes.io/instance": ssn,
            "app.kubernetes.io/managed-by": "Helm", "app.kubernetes.io/part-of": "gha-rs",
            "actions.github.com/scale-set-name": ssn, "actions.github.com/scale-set-namespace": target_ns}
    if chart.app_version:
        base["app.kubernetes.io/version"] = chart.app_version
    user_labels = vals.get("labels") if isinstance(vals.get("labels"), dict) else {}
    user_ann = vals.get("annotations") if isinstance(vals.get("annotations"), dict) else {}

    def labels(component=None):
        res = {k: go_str(v) for k, v in user_labels.items()
               if k not in base and k != "app.kubernetes.io/component" and not k.startswith("actions.github.com/")}
        res.update(base)
        if component:
            res["app.kubernetes.io/component"] = component
        return res

    objs = []
    kube_mode = mode in ("kubernetes", "kubernetes-novolume")
    # no_permission_serviceaccount.yaml
    if not kube_mode and not custom_sa:
        objs.append({"apiVersion": "v1", "kind": "ServiceAccount",
                     "metadata": base_meta(fn + "-no-permission", target_ns, labels(), dict(user_ann),
                                           [CLEANUP_FINALIZER])})
    # manager_role_binding.yaml (the controller lookup)
    sa_name, sa_ns = controller_lookup(cluster, vals, target_ns)
    objs.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                 "metadata": base_meta(fullname + "-manager", target_ns, labels("manager-role-binding"),
                                       dict(user_ann), [CLEANUP_FINALIZER]),
                 "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": fullname + "-manager"},
                 "subjects": [{"kind": "ServiceAccount", "name": sa_name, "namespace": sa_ns}]})
    # manager_role.yaml
    objs.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                 "metadata": base_meta(fullname + "-manager", target_ns, labels("manager-role"), dict(user_ann),
                                       [CLEANUP_FINALIZER]),
                 "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["create", "delete", "get"]},
                           {"apiGroups": [""], "resources": ["pods/status"], "verbs": ["get"]},
                           {"apiGroups": [""], "resources": ["secrets"],
                            "verbs": ["create", "delete", "get", "list", "patch", "update"]},
                           {"apiGroups": [""], "resources": ["serviceaccounts"],
                            "verbs": ["create", "delete", "get", "list", "patch", "update"]}]})
    # kube_mode_*.yaml
    if kube_mode and not custom_sa:
        for kind, api in (("ServiceAccount", "v1"), ("RoleBinding", "rbac.authorization.k8s.io/v1"),
                          ("Role", "rbac.authorization.k8s.io/v1")):
            o = {"apiVersion": api, "kind": kind,
                 "metadata": base_meta(fn + "-kube-mode", target_ns, labels(), dict(user_ann), [CLEANUP_FINALIZER])}
            if kind == "Role":
                o["rules"] = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "create", "delete"]},
                              {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["get", "create"]},
                              {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get", "list", "watch"]},
                              {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get", "list", "create",
                                                                                         "delete"]},
                              {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "create",
                                                                                       "delete"]}]
            if kind == "RoleBinding":
                o["roleRef"] = {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": fn + "-kube-mode"}
                o["subjects"] = [{"kind": "ServiceAccount", "name": fn + "-kube-mode", "namespace": target_ns}]
            objs.append(o)
    # githubsecret.yaml
    secret = vals.get("githubConfigSecret")
    if not isinstance(secret, str):
        t = tpl + "githubsecret.yaml"
        if secret is None:
            raise exec_error(t, 41, 48, "Values.githubConfigSecret is required for setting auth with GitHub server.")
        if isinstance(secret, list):
            if secret:
                raise TemplateError('template: %s:44:13: executing "%s" at <eq $secretName "github_token">: error '
                                    'calling eq: incompatible types for comparison: int and string' % (t, t))
            secret = {}
        elif not isinstance(secret, dict):
            raise TemplateError('template: %s:41:135: executing "%s" at <.Values.githubConfigSecret>: range can\'t '
                                'iterate over %s' % (t, t, go_str(secret)))
        data = {k: b64(go_str(v)) for k, v in sorted(secret.items()) if truthy(v)}
        if "github_token" not in data and "github_app_id" not in data:
            raise exec_error(t, 59, 8, "A valid .Values.githubConfigSecret is required for setting auth with GitHub "
                                       "server, provide .Values.githubConfigSecret.github_token or "
                                       ".Values.githubConfigSecret.github_app_id.")
        if "github_app_id" in data and ("github_app_installation_id" not in data
                                        or "github_app_private_key" not in data):
            raise exec_error(t, 62, 8, "A valid .Values.githubConfigSecret is required for setting auth with GitHub "
                                       "server, provide .Values.githubConfigSecret.github_app_installation_id and "
                                       ".Values.githubConfigSecret.github_app_private_key.")
        objs.append({"apiVersion": "v1", "kind": "Secret",
                     "metadata": base_meta(fn + "-github-secret", target_ns, labels(), dict(user_ann),
                                           [CLEANUP_FINALIZER]), "data": data})
    # autoscalingrunnerset.yaml
    t = tpl + "autoscalingrunnerset.yaml"
    if not ssn or len(ssn) > 45:
        raise exec_error(t, 7, 5, "Name must have up to 45 characters")
    if len(target_ns) > 63:
        raise exec_error(t, 10, 5, "Namespace must have up to 63 characters")
    url = go_str(vals.get("githubConfigUrl")) if vals.get("githubConfigUrl") is not None else ""
    if url.endswith("/"):
        url = url[:-1]
    if not url:
        raise exec_error(t, 70, 22, ".Values.githubConfigUrl is required")
    if isinstance(secret, str):
        if not secret:
            raise exec_error(t, 71, 25, "Values.githubConfigSecret is required for setting auth with GitHub server.")
        secret_name = secret
    else:
        secret_name = fn + "-github-secret"
    spec = {"githubConfigUrl": url, "githubConfigSecret": secret_name}
    if truthy(vals.get("runnerGroup")):
        spec["runnerGroup"] = go_str(vals["runnerGroup"])
    if truthy(vals.get("runnerScaleSetName")):
        spec["runnerScaleSetName"] = go_str(vals["runnerScaleSetName"])
    ssl = vals.get("scaleSetLabels")
    if truthy(ssl) and isinstance(ssl, list):
        for label in ssl:
            if not truthy(label):
                raise exec_error(t, 81, 6, "scaleSetLabels contains an empty string, each label must be a non-empty "
                                           "string of less than 256 characters")
            if len(go_str(label)) >= 256:
                raise exec_error(t, 84, 6, "scaleSetLabels contains a label that is 256 characters or more, each "
                                           "label must be a non-empty string of less than 256 characters")
        spec["runnerScaleSetLabels"] = ssl
    for src, dst in (("githubServerTLS", "githubServerTLS"), ("proxy", "proxy")):
        if truthy(vals.get(src)):
            spec[dst] = vals[src]
    mn, mx = vals.get("minRunners"), vals.get("maxRunners")
    if is_number(mn) and is_number(mx) and mn > mx:
        raise exec_error(t, 142, 10, "maxRunners has to be greater or equal to minRunners")
    if is_number(mx):
        if int(mx) < 0:
            raise exec_error(t, 148, 10, "maxRunners has to be greater or equal to 0")
        spec["maxRunners"] = int(mx)
    if is_number(mn):
        if int(mn) < 0:
            raise exec_error(t, 155, 10, "minRunners has to be greater or equal to 0")
        spec["minRunners"] = int(mn)
    for src in ("listenerTemplate", "listenerMetrics"):
        if truthy(vals.get(src)):
            spec[src] = vals[src]
    spec["template"] = runner_template(vals, tspec, mode, fn, custom_sa, kube_minor)
    ann = {k: go_str(v) for k, v in user_ann.items()
           if not k.startswith("actions.github.com/cleanup-") and k != "actions.github.com/values-hash"}
    ann["actions.github.com/values-hash"] = sha256(go_json(vals))[:63]
    if not isinstance(secret, str):
        ann["actions.github.com/cleanup-github-secret-name"] = secret_name
    ann["actions.github.com/cleanup-manager-role-binding"] = fullname + "-manager"
    ann["actions.github.com/cleanup-manager-role-name"] = fullname + "-manager"
    if kube_mode and not custom_sa:
        ann["actions.github.com/cleanup-kubernetes-mode-role-binding-name"] = fullname + "-kube-mode"
        ann["actions.github.com/cleanup-kubernetes-mode-role-name"] = fullname + "-kube-mode"
        ann["actions.github.com/cleanup-kubernetes-mode-service-account-name"] = fn + "-kube-mode"
    if not kube_mode and not custom_sa:
        ann["actions.github.com/cleanup-no-permission-service-account-name"] = fn + "-no-permission"
    objs.append({"apiVersion": "actions.github.com/v1alpha1", "kind": "AutoscalingRunnerSet",
                 "metadata": base_meta(ssn.replace("_", "-"), target_ns, labels("autoscaling-runner-set"), ann),
                 "spec": spec})
    return objs


def runner_template(vals, tspec, mode, fn, custom_sa, kube_minor):
    """The runner pod template per containerMode (no TLS handling)."""
    tmpl = vals.get("template") if isinstance(vals.get("template"), dict) else {}
    res = {}
    md = tmpl.get("metadata")
    if truthy(md) and isinstance(md, dict):
        res["metadata"] = {k: md[k] for k in ("labels", "annotations") if truthy(md.get(k))}
    spec = {k: v for k, v in tspec.items() if k not in ("containers", "volumes", "initContainers",
                                                          "serviceAccountName")}
    spec.setdefault("restartPolicy", "Never")
    kube_mode = mode in ("kubernetes", "kubernetes-novolume")
    spec["serviceAccountName"] = custom_sa or (fn + ("-kube-mode" if kube_mode else "-no-permission"))
    containers = tspec.get("containers") or []
    runner = next((c for c in containers if isinstance(c, dict) and c.get("name") == "runner"), None)
    others = [c for c in containers if isinstance(c, dict) and c.get("name") != "runner"]
    user_vols = tspec.get("volumes") or []
    work_vol = next((v for v in user_vols if isinstance(v, dict) and v.get("name") == "work"), None)
    non_work = [v for v in user_vols if isinstance(v, dict) and v.get("name") != "work"]

    def with_env(c, env, mounts):
        c = {k: v for k, v in (c or {}).items()}
        names = {e.get("name") for e in c.get("env") or [] if isinstance(e, dict)}
        c["env"] = list(c.get("env") or []) + [e for e in env if e["name"] not in names]
        mnames = {m.get("name") for m in c.get("volumeMounts") or [] if isinstance(m, dict)}
        c["volumeMounts"] = list(c.get("volumeMounts") or []) + [m for m in mounts if m["name"] not in mnames]
        c["name"] = "runner"
        return c

    if mode == "dind":
        image = (runner or {}).get("image")
        dind = {"name": "dind", "image": "docker:dind",
                "args": ["dockerd", "--host=unix:///var/run/docker.sock", "--group=$(DOCKER_GROUP_GID)"],
                "env": [{"name": "DOCKER_GROUP_GID", "value": "123"}], "securityContext": {"privileged": True},
                "volumeMounts": [{"name": "work", "mountPath": "/home/runner/_work"},
                                 {"name": "dind-sock", "mountPath": "/var/run"},
                                 {"name": "dind-externals", "mountPath": "/home/runner/externals"}]}
        init = [{"name": "init-dind-externals", "image": image, "command": ["cp"],
                 "args": ["-r", "/home/runner/externals/.", "/home/runner/tmpDir/"],
                 "volumeMounts": [{"name": "dind-externals", "mountPath": "/home/runner/tmpDir"}]}]
        if kube_minor >= 29:
            dind.update({"restartPolicy": "Always", "startupProbe": {
                "exec": {"command": ["docker", "info"]}, "initialDelaySeconds": 0, "failureThreshold": 24,
                "periodSeconds": 5}})
            init.append(dind)
        spec["initContainers"] = init + list(tspec.get("initContainers") or [])
        spec["containers"] = [with_env(runner, [{"name": "DOCKER_HOST", "value": "unix:///var/run/docker.sock"},
                                                {"name": "RUNNER_WAIT_FOR_DOCKER_IN_SECONDS", "value": "120"}],
                                       [{"name": "work", "mountPath": "/home/runner/_work"},
                                        {"name": "dind-sock", "mountPath": "/var/run"}])]
        if kube_minor < 29:
            spec["containers"].append(dind)
        spec["containers"] += [c for c in others if c.get("name") != "dind"]
        spec["volumes"] = [{"name": "dind-sock", "emptyDir": {}}, {"name": "dind-externals", "emptyDir": {}},
                           work_vol or {"name": "work", "emptyDir": {}}] + non_work
    elif mode == "kubernetes":
        if tspec.get("initContainers"):
            spec["initContainers"] = tspec["initContainers"]
        spec["containers"] = [with_env(runner, [
            {"name": "ACTIONS_RUNNER_CONTAINER_HOOKS", "value": "/home/runner/k8s/index.js"},
            {"name": "ACTIONS_RUNNER_POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "ACTIONS_RUNNER_REQUIRE_JOB_CONTAINER", "value": "true"}],
            [{"name": "work", "mountPath": "/home/runner/_work"}])] + others
        claim = (vals.get("containerMode") or {}).get("kubernetesModeWorkVolumeClaim")
        spec["volumes"] = [work_vol or {"name": "work", "ephemeral": {"volumeClaimTemplate": {"spec": claim}}}] \
            + non_work
    elif mode == "kubernetes-novolume":
        if tspec.get("initContainers"):
            spec["initContainers"] = tspec["initContainers"]
        c = with_env(runner, [
            {"name": "ACTIONS_RUNNER_CONTAINER_HOOKS", "value": "/home/runner/k8s-novolume/index.js"},
            {"name": "ACTIONS_RUNNER_POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "ACTIONS_RUNNER_REQUIRE_JOB_CONTAINER", "value": "true"},
            {"name": "ACTIONS_RUNNER_IMAGE", "value": go_str((runner or {}).get("image", ""))}], [])
        spec["containers"] = [c] + others
        spec["volumes"] = []
    else:
        if tspec.get("initContainers"):
            spec["initContainers"] = tspec["initContainers"]
        spec["containers"] = [c for c in containers]
        if user_vols:
            spec["volumes"] = user_vols
    res["spec"] = spec
    return res


def controller_fullname(rel_name, vals):
    if truthy(vals.get("fullnameOverride")):
        return go_str(vals["fullnameOverride"])[:63].rstrip("-")
    name = go_str(vals["nameOverride"]) if truthy(vals.get("nameOverride")) else "gha-rs-controller"
    return (rel_name if name in rel_name else "%s-%s" % (rel_name, name))[:63].rstrip("-")


def render_controller(rel_name, ns, chart, vals):
    """The gha-runner-scale-set-controller chart's objects (the CRDs from
    crds/ are installed separately, before rendering, as helm does)."""
    target_ns = go_str(vals["namespaceOverride"]) if truthy(vals.get("namespaceOverride")) else ns
    full = controller_fullname(rel_name, vals)
    sa_cfg = vals.get("serviceAccount") or {}
    tpl = CONTROLLER_CHART + "/templates/"
    if sa_cfg.get("name") == "default":
        raise exec_error(tpl + "deployment.yaml", 9, 62, "serviceAccount.name cannot be set to 'default'")
    if sa_cfg.get("create", True):
        sa = go_str(sa_cfg["name"]) if truthy(sa_cfg.get("name")) else full
    elif not truthy(sa_cfg.get("name")):
        raise exec_error(tpl + "deployment.yaml", 9, 62, "serviceAccount.name must be set if serviceAccount.create "
                                                          "is false")
    else:
        sa = go_str(sa_cfg["name"])
    name = go_str(vals["nameOverride"]) if truthy(vals.get("nameOverride")) else "gha-rs-controller"
    labels = {"helm.sh/chart": ("gha-rs-controller-%s" % chart.version).replace("+", "_"),
              "app.kubernetes.io/name": name, "app.kubernetes.io/namespace": target_ns,
              "app.kubernetes.io/instance": rel_name, "app.kubernetes.io/part-of": "gha-rs-controller",
              "app.kubernetes.io/managed-by": "Helm"}
    if chart.app_version:
        labels["app.kubernetes.io/version"] = chart.app_version
    for k, v in (vals.get("labels") or {}).items():
        labels[k] = go_str(v)
    objs = []
    if sa_cfg.get("create", True):
        objs.append({"apiVersion": "v1", "kind": "ServiceAccount",
                     "metadata": base_meta(sa, target_ns, dict(labels), sa_cfg.get("annotations") or None)})
    objs.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                 "metadata": base_meta(full, None, dict(labels)),
                 "rules": [{"apiGroups": ["actions.github.com"], "resources": ["autoscalingrunnersets"],
                            "verbs": ["get", "list", "watch", "update", "patch"]}]})
    objs.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                 "metadata": base_meta(full, None, dict(labels)),
                 "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": full},
                 "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": target_ns}]})
    objs.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                 "metadata": base_meta(full + "-listener", target_ns, dict(labels)),
                 "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["create", "delete", "get"]}]})
    objs.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                 "metadata": base_meta(full + "-listener", target_ns, dict(labels)),
                 "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": full + "-listener"},
                 "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": target_ns}]})
    dep_labels = dict(labels)
    dep_labels["actions.github.com/controller-service-account-namespace"] = target_ns
    dep_labels["actions.github.com/controller-service-account-name"] = sa
    flags = vals.get("flags") or {}
    if truthy(flags.get("watchSingleNamespace")):
        dep_labels["actions.github.com/controller-watch-single-namespace"] = go_str(flags["watchSingleNamespace"])
    dep = deployment(target_ns, full, {"app.kubernetes.io/name": name, "app.kubernetes.io/namespace": target_ns,
                                       "app.kubernetes.io/instance": rel_name})
    dep["metadata"]["labels"] = dep_labels
    dep["spec"]["replicas"] = vals.get("replicaCount") or 1
    dep["spec"]["template"]["metadata"]["labels"].update({"app.kubernetes.io/part-of": "gha-rs-controller",
                                                          "app.kubernetes.io/component": "controller-manager"})
    image = vals.get("image") or {}
    dep["spec"]["template"]["spec"] = {
        "serviceAccountName": sa,
        "containers": [{"name": "manager", "image": "%s:%s" % (image.get("repository", ""),
                                                                image.get("tag") or chart.app_version),
                        "args": ["--auto-scaling-runner-set-only", "--log-level=%s" % flags.get("logLevel", "debug"),
                                 "--log-format=%s" % flags.get("logFormat", "text")]}]}
    del dep["status"]
    objs.append(dep)
    return objs


def arc_crds():
    res = []
    for plural, kind in ARC_CRDS:
        names = {"kind": kind, "listKind": kind + "List", "plural": plural, "singular": kind.lower()}
        res.append({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                    "metadata": {"name": plural + ".actions.github.com",
                                 "annotations": {"controller-gen.kubebuilder.io/version": "v0.20.1"}},
                    "spec": {"group": "actions.github.com", "names": names, "scope": "Namespaced",
                             "versions": [{"name": "v1alpha1", "served": True, "storage": True,
                                           "subresources": {"status": {}},
                                           "schema": {"openAPIV3Schema": {
                                               "type": "object", "x-kubernetes-preserve-unknown-fields": True,
                                               "description": "schema elided by the fake"}}}]}})
    return res


def chart_crds(chart):
    """What helm installs from the chart's crds/ directory."""
    if chart.name == CONTROLLER_CHART:
        return arc_crds()
    if chart.path and os.path.isdir(os.path.join(chart.path, "crds")):
        res = []
        for f in sorted(os.listdir(os.path.join(chart.path, "crds"))):
            if f.endswith((".yaml", ".yml", ".json")):
                with open(os.path.join(chart.path, "crds", f)) as fh:
                    res += [d for d in yaml_load_all(fh.read()) if isinstance(d, dict)]
        return res
    return []


def establish_crd(crd):
    crd = deepcopy(crd)
    names = crd.get("spec", {}).get("names", {})
    t = rfc3339(now())
    crd["status"] = {"acceptedNames": names, "storedVersions": [v["name"] for v in crd["spec"].get("versions", [])
                                                                if v.get("storage")],
                     "conditions": [{"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
                                     "message": "no conflicts found", "lastTransitionTime": t},
                                    {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
                                     "message": "the initial names have been accepted", "lastTransitionTime": t}]}
    return crd


def arc_render(ctx, chart, rel_name, ns, user_vals):
    """Render through the real Helm engine (config arc_render + charts_dir).
    Returns objects, or None when the engine is unavailable (exit 4)."""
    import subprocess
    import tempfile
    tool = ctx.config.get("arc_render")
    if not tool or not os.path.exists(tool) or not chart.path:
        return None
    # The output depends only on chart, values, release and namespace (the
    # tool's fake API server is fixed), so identical renders are cached
    # across sandboxes; off with config "render_cache": false.
    home = real_home()
    key = sha256(go_json([os.path.realpath(chart.path), chart.version, user_vals, rel_name, ns,
                          os.stat(tool).st_mtime_ns]))
    cache_dir = ctx.config.get("render_cache_dir") or os.path.join(home, ".cache", "deskrun-fake-tool", "render")
    cache_file = os.path.join(cache_dir, key + ".json")
    use_cache = ctx.config.get("render_cache", True) is not False
    cached = None
    if use_cache:
        try:
            with open(cache_file) as f:
                cached = json.load(f)
        except (OSError, ValueError):
            cached = None
    if cached is None:
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            f.write(json.dumps(user_vals))
            vpath = f.name
        env = dict(os.environ)
        # tests point HOME at a sandbox: keep the engine where it was downloaded
        env.setdefault("ARC_RENDER_CACHE", os.path.join(home, ".cache", "arc-render"))
        try:
            r = subprocess.run([tool, chart.path, vpath, "--release", rel_name, "--namespace", ns, "--json"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        finally:
            os.unlink(vpath)
        if r.returncode == 4:
            return None
        if r.returncode not in (0, 3):
            raise Fail("fake_tool: arc-render failed (exit %d): %s" % (r.returncode, r.stderr.strip()), EXIT_NO_STATE)
        cached = {"rc": r.returncode, "stderr": r.stderr, "stdout": r.stdout}
        if use_cache:
            try:
                os.makedirs(cache_dir, exist_ok=True)
                tmp = "%s.%d.tmp" % (cache_file, os.getpid())
                with open(tmp, "w") as f:
                    json.dump(cached, f)
                os.replace(tmp, cache_file)
            except OSError:
                pass  # only a cache
    if cached["rc"] == 3:
        msg = cached["stderr"].strip()
        for p in ("helm refused: ", "install failed: "):
            msg = msg[len(p):] if msg.startswith(p) else msg
        raise TemplateError(msg)
    objs = []
    for o in json.loads(cached["stdout"]):
        if o.get("kind") == "CustomResourceDefinition":
            continue  # crds/ are handled like helm does, before rendering
        md = o.get("metadata", {})
        for f in ("uid", "resourceVersion", "creationTimestamp"):
            md.pop(f, None)
        for a in ("meta.helm.sh/release-name", "meta.helm.sh/release-namespace"):
            (md.get("annotations") or {}).pop(a, None)
        if md.get("annotations") == {}:
            del md["annotations"]
        objs.append(o)
    return objs


def real_home():
    """The user's home from the password database (tests override HOME)."""
    try:
        import pwd
        return pwd.getpwuid(os.getuid()).pw_dir
    except (ImportError, KeyError):
        return os.path.expanduser("~")


def render_chart(ctx, cluster, chart, rel_name, ns, user_vals, kube_minor):
    """Objects the chart renders, or TemplateError."""
    vals = coalesce(chart.defaults, user_vals)
    if chart.name == SCALE_SET_CHART:
        # The chart's `lookup` of the controller needs the live cluster, which
        # arc-render does not see: checked here first (manager_role_binding.yaml
        # is the first template that can fail), the rest by the real engine.
        target_ns = go_str(vals["namespaceOverride"]) if truthy(vals.get("namespaceOverride")) else ns
        sa_name, sa_ns = controller_lookup(cluster, vals, target_ns)
        rendered = arc_render(ctx, chart, rel_name, ns, user_vals)
        if rendered is None:
            return render_scale_set(rel_name, ns, chart, vals, cluster, kube_minor), vals
        for o in rendered:
            if o["kind"] == "RoleBinding" and o["metadata"]["name"].endswith("-manager"):
                for s in o.get("subjects", []):
                    s["name"], s["namespace"] = sa_name, sa_ns
        return rendered, vals
    if chart.name == CONTROLLER_CHART:
        objs = render_controller(rel_name, ns, chart, vals)
        rendered = arc_render(ctx, chart, rel_name, ns, user_vals)
        return (rendered if rendered is not None else objs), vals
    rendered = arc_render(ctx, chart, rel_name, ns, user_vals)
    return (rendered or []), vals


def chart_notes(chart, rel_name):
    if chart.name in (CONTROLLER_CHART, SCALE_SET_CHART):
        return "Thank you for installing %s.\n\nYour release is named %s." % (chart.name, rel_name)
    return ""


def manifest_of(rel):
    """The release manifest (rendered on demand: it needs PyYAML)."""
    parts = []
    for o in deepcopy(rel["objects"]):
        ann = o["metadata"].get("annotations") or {}
        for a in ("meta.helm.sh/release-name", "meta.helm.sh/release-namespace"):
            ann.pop(a, None)
        if "annotations" in o["metadata"] and not ann:
            del o["metadata"]["annotations"]
        src = {"Deployment": "deployment.yaml", "AutoscalingRunnerSet": "autoscalingrunnerset.yaml",
               "Secret": "githubsecret.yaml"}.get(o["kind"], o["kind"].lower() + ".yaml")
        parts.append("---\n# Source: %s/templates/%s\n%s" % (rel["chart"]["name"], src, yaml_dump(o)))
    return "".join(parts)


# ---- applying a release to the cluster ------------------------------------------

def owned_meta(objs, rel_name, ns):
    """helm's setMetadataVisitor: release annotations and managed-by label,
    and the release namespace on namespaced objects."""
    res = []
    for o in objs:
        o = deepcopy(o)
        md = o.setdefault("metadata", {})
        md.setdefault("labels", {})["app.kubernetes.io/managed-by"] = "Helm"
        ann = md.setdefault("annotations", {})
        ann["meta.helm.sh/release-name"] = rel_name
        ann["meta.helm.sh/release-namespace"] = ns
        res.append(o)
    return res


def place(cluster, objs, ns):
    """Set namespaces and check each kind maps to an API type."""
    for o in objs:
        rt = type_for_kind(cluster, o.get("apiVersion", ""), o.get("kind", ""))
        md = o["metadata"]
        if rt is None:
            return ('resource mapping not found for name: "%s" namespace: "%s" from "": no matches for kind "%s" '
                    'in version "%s"\nensure CRDs are installed first'
                    % (md.get("name", ""), md.get("namespace", ""), o.get("kind"), o.get("apiVersion")))
        if rt.namespaced:
            md.setdefault("namespace", ns)
        else:
            md.pop("namespace", None)
    return None


def ownership_error(existing, rel_name, ns):
    md = existing["metadata"]
    labels, ann = md.get("labels") or {}, md.get("annotations") or {}
    errs = []
    for where, bag, key, want in (("label", labels, "app.kubernetes.io/managed-by", "Helm"),
                                  ("annotation", ann, "meta.helm.sh/release-name", rel_name),
                                  ("annotation", ann, "meta.helm.sh/release-namespace", ns)):
        if key not in bag:
            errs.append('%s validation error: missing key "%s": must be set to "%s"' % (where, key, want))
        elif bag[key] != want:
            errs.append('%s validation error: key "%s" must equal "%s": current value is "%s"'
                        % (where, key, want, bag[key]))
    if not errs:
        return None
    return '%s "%s" in namespace "%s" exists and cannot be imported into the current release: invalid ownership ' \
           'metadata; %s' % (existing["kind"], md["name"], md.get("namespace", ""), "; ".join(errs))


def api_errors(cluster, o):
    """Server-side validation of objects helm creates."""
    md = o["metadata"]
    rt = type_for_kind(cluster, o["apiVersion"], o["kind"])
    errs = name_errors(md.get("name", ""), label=o["kind"] == "Namespace")
    errs += label_errors(md.get("labels"))
    if md.get("namespace") and not namespace_exists(cluster, md["namespace"]):
        return 'namespaces "%s" not found' % md["namespace"]
    if o["kind"] == "AutoscalingRunnerSet":
        for i, v in enumerate(((o.get("spec") or {}).get("template") or {}).get("spec", {}).get("volumes") or []):
            vct = ((v or {}).get("ephemeral") or {}).get("volumeClaimTemplate")
            if isinstance(v, dict) and "ephemeral" in v and (not isinstance(vct, dict) or vct.get("spec") is None):
                errs.append("spec.template.spec.volumes[%d].ephemeral.volumeClaimTemplate.spec: Required value" % i)
    if errs:
        return invalid(rt.kind_group if rt else o["kind"], md.get("name", ""), errs)
    return None


def apply_release_objects(cluster, new_objs, old_keys):
    """Create/update the release's objects, delete those it no longer has.
    Returns an error message (API refusal) or None; nothing is changed then."""
    for o in new_objs:
        e = api_errors(cluster, o)
        if e:
            exists = key_of(o) in cluster["objects"]
            return ("failed to create resource: " + e) if not exists else \
                ('cannot patch "%s" with kind %s: %s' % (o["metadata"]["name"], o["kind"], e))
    new_keys = [key_of(o) for o in new_objs]
    for k in old_keys:
        if k not in new_keys and k in cluster["objects"]:
            old = cluster["objects"][k]
            if (old["metadata"].get("annotations") or {}).get("helm.sh/resource-policy") != "keep":
                delete_obj(cluster, old)
    for o in new_objs:
        put_obj(cluster, deepcopy(o))
    return None


def new_revision(name, ns, version, chart, user_vals, vals, objs, labels, status, description, first=None):
    t = now()
    return {"name": name, "namespace": ns, "version": version, "status": status, "description": description,
            "chart": chart.metadata(), "chart_values": chart.defaults, "config": user_vals,
            "objects": objs, "first_deployed": first or t,
            "last_deployed": t, "deleted": 0, "notes": chart_notes(chart, name), "labels": labels}


def helm_install(ctx):
    return helm_deploy(ctx, "install")


def helm_upgrade(ctx):
    return helm_deploy(ctx, "upgrade")


def helm_deploy(ctx, verb):
    """helm install / helm upgrade [--install]: validation in helm's order,
    then a pending release written with its objects, the --wait (latency),
    and the final status."""
    cmd = ctx.cmd
    if verb == "upgrade" and len(cmd.pos) != 2:
        raise Fail('"helm upgrade" requires 2 arguments\n\nUsage:  helm upgrade [RELEASE] [CHART] [flags]')
    if verb == "install":
        if len(cmd.pos) == 1:
            raise Fail("must either provide a name or specify --generate-name")
        if len(cmd.pos) != 2:
            raise Fail('"helm install" requires at least 1 argument\n\nUsage:  helm install [NAME] [CHART] [flags]')
    name, chart_ref = cmd.pos
    ns = cmd.get("namespace") or "default"
    fmt = check_output_format(cmd.get("output"))
    timeout = parse_timeout(ctx)
    labels = parse_labels(cmd.get("labels", ""))
    snap = ctx.store.read()
    try:
        cluster = helm_cluster(ctx, snap)
    except Fail:
        cluster = None
    hist = history(cluster, ns, name) if cluster else []
    # upgrade --install installs only when helm's history lookup says "not
    # found"; an unreachable cluster or an invalid name take the upgrade path
    do_install = verb == "install" or (cmd.get("install") and cluster is not None and len(name) <= 53 and
                                       full_match(RELEASE_NAME_RE[1:-1], name) and
                                       (not hist or hist[-1]["status"] == "uninstalled"))
    if verb == "install":
        prefix, chart_prefix = "INSTALLATION FAILED: ", "INSTALLATION FAILED: "
    elif do_install:
        prefix, chart_prefix = "", ""
        if fmt == "table":
            out('Release "%s" does not exist. Installing it now.' % name)
    else:
        prefix, chart_prefix = "UPGRADE FAILED: ", ""
    try:
        chart = locate_chart(ctx, chart_ref, cmd.get("version"))
    except Fail as e:
        raise Fail(chart_prefix + e.stderr, e.code)
    vals_user = user_values(ctx, chart_prefix)
    # --- checks against the cluster, in helm's order
    cluster = helm_cluster(ctx, snap, prefix)
    if do_install:
        if len(name) > 53 or not full_match(RELEASE_NAME_RE[1:-1], name):
            raise Fail('%srelease name "%s": invalid release name, must match regex %s and the length must not be '
                       'longer than 53' % (prefix, name, RELEASE_NAME_RE))
        if hist and hist[-1]["status"] != "uninstalled":
            raise Fail(prefix + "cannot re-use a name that is still in use")
    else:
        if len(name) > 53 or not full_match(RELEASE_NAME_RE[1:-1], name):
            raise Fail("%srelease name is invalid: %s" % (prefix, name))
        if not hist or hist[-1]["status"] == "uninstalled":
            raise Fail('%s"%s" has no deployed releases' % (prefix, name))
        if hist[-1]["status"].startswith("pending-"):
            raise Fail(prefix + ERR_PENDING)
    if any(k in HELM_SYSTEM_LABELS for k in labels):
        raise Fail("%suser supplied labels contains system reserved label name. System labels: [%s]"
                   % (prefix, " ".join(HELM_SYSTEM_LABELS)))
    if not do_install:
        current = next((r for r in reversed(hist) if r["status"] == "deployed"), hist[-1])
        if cmd.get("reuse-values"):
            vals_user = merge_maps(current["config"], vals_user)
        labels = {k: v for k, v in merge_maps(current.get("labels", {}), labels).items() if v != "null"}
    # CRDs from crds/ go in before the templates are rendered (install only)
    if do_install and not cmd.get("skip-crds"):
        crds = chart_crds(chart)
        if crds:
            with ctx.store.transaction() as st:
                c = helm_cluster(ctx, st, prefix)
                for crd in crds:
                    if get_obj(c, "apiextensions.k8s.io", "CustomResourceDefinition", "", crd["metadata"]["name"]) \
                            is None:
                        put_obj(c, establish_crd(crd))
            snap = ctx.store.read()
            cluster = helm_cluster(ctx, snap, prefix)
    # --- render (outside the lock: arc-render takes a second)
    kube_minor = int(kube_version(snap, cluster).split(".")[1])
    try:
        objs, vals = render_chart(ctx, cluster, chart, name, ns, vals_user, kube_minor)
    except TemplateError as e:
        raise Fail(prefix + str(e))
    # --- write the pending release and its objects
    failure = None
    with ctx.store.transaction() as st:
        cluster = helm_cluster(ctx, st, prefix)
        hist_now = cluster["releases"].setdefault(rel_key(ns, name), [])
        last = hist_now[-1] if hist_now else None
        if len(hist_now) != len(hist):
            if last and last["status"].startswith("pending-"):
                raise Fail(prefix + ERR_PENDING)
            if do_install and last and last["status"] != "uninstalled":
                raise Fail("%screate: failed to create: secrets \"sh.helm.release.v1.%s.v%d\" already exists"
                           % (prefix, name, last["version"]))
        objs = owned_meta(objs, name, ns)
        mapping_err = place(cluster, objs, ns)
        if mapping_err:
            what = "release manifest" if do_install else "new release manifest"
            raise Fail("%sunable to build kubernetes objects from %s: %s" % (prefix, what, mapping_err))
        current = None if do_install else next((r for r in reversed(hist_now) if r["status"] == "deployed"),
                                               hist_now[-1])
        old_keys = [key_of(o) for o in current["objects"]] if current else []
        for o in objs:
            existing = cluster["objects"].get(key_of(o))
            if existing is not None and key_of(o) not in old_keys:
                e = ownership_error(existing, name, ns)
                if e:
                    raise Fail(prefix + ("rendered manifests contain a resource that already exists. Unable to "
                                         "continue with install: " if do_install else
                                         "Unable to continue with update: ") + e)
        if do_install:
            if cmd.get("create-namespace") and not namespace_exists(cluster, ns):
                make_namespace(cluster, ns)
            if not namespace_exists(cluster, ns):
                raise Fail('%screate: failed to create: namespaces "%s" not found' % (prefix, ns))
        version = (last["version"] + 1) if last else 1
        first = None if do_install else current["first_deployed"]
        rel = new_revision(name, ns, version, chart, vals_user, vals, objs, labels,
                           "pending-install" if do_install else "pending-upgrade",
                           "Initial install underway" if do_install else "Preparing upgrade", first)
        hist_now.append(rel)
        failure = apply_release_objects(cluster, objs, old_keys)
        if failure:
            rel["status"] = "failed"
            rel["description"] = ('Release "%s" failed: %s' if do_install else 'Upgrade "%s" failed: %s') \
                % (name, failure)
        else:
            reconcile(cluster)
    if failure:
        if cmd.get("atomic"):
            failure = atomic_undo(ctx, name, ns, do_install, failure)
        raise Fail(prefix + failure)
    # --- --wait: the latency stands for the time the release takes to be ready
    if ctx.fault_action == "interrupt":
        hang()
    waited = ctx.latency
    if cmd.get("wait") and ctx.latency > timeout:
        time.sleep(timeout)
        waited = None
    else:
        ctx.sleep_latency()
    with ctx.store.transaction() as st:
        cluster = helm_cluster(ctx, st, prefix)
        hist_now = history(cluster, ns, name)
        rel = next((r for r in hist_now if r["version"] == version), None)
        if rel is None:
            raise Fail(prefix + "release: not found")
        if waited is None:
            rel["status"] = "failed"
            rel["description"] = ('Release "%s" failed: context deadline exceeded' if do_install else
                                  'Upgrade "%s" failed: context deadline exceeded') % name
        else:
            for r in hist_now:
                if r is not rel and r["status"] == "deployed":
                    r["status"] = "superseded"
            rel["status"] = "deployed"
            rel["description"] = "Install complete" if do_install else "Upgrade complete"
            rel["last_deployed"] = now()
        reconcile(cluster)
        rel = deepcopy(rel)
    if waited is None:
        failure = "context deadline exceeded"
        if cmd.get("atomic"):
            failure = atomic_undo(ctx, name, ns, do_install, failure)
        raise Fail(prefix + failure)
    if fmt == "table" and not do_install:
        out('Release "%s" has been upgraded. Happy Helming!' % name)
    print_status(ctx, rel, fmt)


def atomic_undo(ctx, name, ns, was_install, failure):
    """--atomic: uninstall a failed install, roll back a failed upgrade."""
    with ctx.store.transaction() as st:
        cluster = helm_cluster(ctx, st)
        hist = history(cluster, ns, name)
        if was_install:
            purge_release(cluster, ns, name, hist)
            reconcile(cluster)
            return "release %s failed, and has been uninstalled due to atomic being set: %s" % (name, failure)
        prev = next((r for r in reversed(hist[:-1]) if r["status"] in ("deployed", "superseded")), None)
        if prev is None:
            return "an error occurred while rolling back the release. original upgrade error: %s: release has no " \
                   "deployed revision" % failure
        rollback_to(cluster, hist, prev)
        reconcile(cluster)
    return "release %s failed, and has been rolled back due to atomic being set: %s" % (name, failure)


def rollback_to(cluster, hist, target):
    apply_release_objects(cluster, target["objects"], [key_of(o) for o in hist[-1]["objects"]])
    rel = deepcopy(target)
    rel.update({"version": hist[-1]["version"] + 1, "status": "deployed", "description": "Rollback to %d"
                % target["version"], "last_deployed": now()})
    for r in hist:
        if r["status"] in ("deployed", "pending-upgrade", "pending-install", "pending-rollback"):
            r["status"] = "superseded"
    hist.append(rel)
    return rel


def purge_release(cluster, ns, name, hist):
    keys = set()
    for r in hist[-1:]:
        keys.update(key_of(o) for o in r["objects"])
    for k in keys:
        o = cluster["objects"].get(k)
        if o is not None and (o["metadata"].get("annotations") or {}).get("helm.sh/resource-policy") != "keep":
            delete_obj(cluster, o)
    cluster["releases"].pop(rel_key(ns, name), None)
    return keys


def helm_uninstall(ctx):
    cmd = ctx.cmd
    if not cmd.pos:
        raise Fail('"helm uninstall" requires at least 1 argument\n\nUsage:  helm uninstall RELEASE_NAME [...] '
                   '[flags]')
    ns = cmd.get("namespace") or "default"
    timeout = parse_timeout(ctx)
    for name in cmd.pos:
        if len(name) > 53 or not full_match(RELEASE_NAME_RE[1:-1], name):
            raise Fail("uninstall: Release name is invalid: %s" % name)
    stuck = {}
    with ctx.store.transaction() as st:
        cluster = helm_cluster(ctx, st)
        for name in cmd.pos:
            hist = history(cluster, ns, name)
            if not hist or (hist[-1]["status"] == "uninstalled" and not cmd.get("keep-history")):
                if cmd.get("ignore-not-found"):
                    continue
                raise Fail("uninstall: Release not loaded: %s: release: not found" % name)
            hist[-1]["status"] = "uninstalling"
            hist[-1]["description"] = "Deletion in progress (or silently failed)"
            keys = set(key_of(o) for o in hist[-1]["objects"])
            for k in keys:
                o = cluster["objects"].get(k)
                if o is not None and (o["metadata"].get("annotations") or {}).get("helm.sh/resource-policy") != "keep":
                    delete_obj(cluster, o)
            reconcile(cluster)
            stuck[name] = [k for k in keys if k in cluster["objects"]]
    if ctx.fault_action == "interrupt":
        hang()
    # --wait: deletions held by finalizers never finish
    wait_fail = cmd.get("wait") and any(stuck.values())
    if wait_fail:
        time.sleep(timeout)
    else:
        ctx.sleep_latency()
    with ctx.store.transaction() as st:
        cluster = helm_cluster(ctx, st)
        for name in cmd.pos:
            hist = history(cluster, ns, name)
            if not hist:
                continue
            if cmd.get("keep-history"):
                hist[-1].update({"status": "uninstalled", "description": "Uninstallation complete",
                                 "deleted": now()})
            else:
                cluster["releases"].pop(rel_key(ns, name), None)
    for name in cmd.pos:
        out('release "%s" uninstalled' % name)
    if wait_fail:
        raise Fail("uninstallation completed with 1 error(s): context deadline exceeded")


def helm_rollback(ctx):
    cmd = ctx.cmd
    if not cmd.pos or len(cmd.pos) > 2:
        raise Fail('"helm rollback" requires at least 1 argument\n\nUsage:  helm rollback <RELEASE> [REVISION] '
                   '[flags]')
    name = cmd.pos[0]
    ns = cmd.get("namespace") or "default"
    parse_timeout(ctx)
    if len(cmd.pos) == 2 and not cmd.pos[1].isdigit():
        raise Fail('invalid argument "%s" for "helm rollback": strconv.Atoi: parsing "%s": invalid syntax'
                   % (cmd.pos[1], cmd.pos[1]))
    with ctx.store.transaction() as st:
        cluster = helm_cluster(ctx, st)
        hist = history(cluster, ns, name)
        if not hist:
            raise Fail("release: not found")
        target_v = int(cmd.pos[1]) if len(cmd.pos) == 2 and int(cmd.pos[1]) > 0 else hist[-1]["version"] - 1
        target = next((r for r in hist if r["version"] == target_v), None)
        if target is None:
            raise Fail("release has no %d version" % target_v)
        rollback_to(cluster, hist, target)
        reconcile(cluster)
    ctx.sleep_latency()
    out("Rollback was a success! Happy Helming!")


def helm_list(ctx):
    import re
    cmd = ctx.cmd
    fmt = check_output_format(cmd.get("output"))
    try:
        reqs = parse_selector(cmd.get("selector", ""))
    except ValueError as e:
        raise Fail("unable to parse requirement: %s" % e)
    flt = None
    if cmd.get("filter"):
        try:
            flt = re.compile(cmd.get("filter"))
        except re.error as e:
            raise Fail("error parsing regexp: %s" % e)
    ctx.sleep_latency()
    st = ctx.store.read()
    cluster = helm_cluster(ctx, st)
    ns = cmd.get("namespace") or "default"
    states = [s for s in ("deployed", "failed", "pending", "superseded", "uninstalled", "uninstalling") if cmd.get(s)]
    rows = []
    for hist in cluster["releases"].values():
        if not hist:
            continue
        rel = hist[-1]
        if not cmd.get("all-namespaces") and rel["namespace"] != ns:
            continue
        if flt and not flt.search(rel["name"]):
            continue
        status = rel["status"]
        if not cmd.get("all"):
            wanted = states or ["deployed", "failed"]
            if not any(status == s or (s == "pending" and status.startswith("pending-")) for s in wanted):
                continue
        if not selector_matches(reqs, rel.get("labels")):
            continue
        rows.append(rel)
    rows.sort(key=lambda r: (r["last_deployed"] if cmd.get("date") else r["name"]))
    if cmd.get("reverse"):
        rows.reverse()
    items = [{"name": r["name"], "namespace": r["namespace"], "revision": str(r["version"]),
              "updated": go_time_string(r["last_deployed"]), "status": r["status"],
              "chart": "%s-%s" % (r["chart"]["name"], r["chart"]["version"]),
              "app_version": r["chart"].get("appVersion", "")} for r in rows]
    if fmt == "json":
        out(go_struct_json(items))
    elif fmt == "yaml":
        out(yaml_dump(items) if items else "[]")
    elif cmd.get("short"):
        for i in items:
            out(i["name"])
    else:
        table = [] if cmd.get("no-headers") else [["NAME", "NAMESPACE", "REVISION", "UPDATED", "STATUS", "CHART",
                                                   "APP VERSION"]]
        table += [[i["name"], i["namespace"], i["revision"], i["updated"], i["status"], i["chart"],
                   i["app_version"]] for i in items]
        out(helm_table(table))


def helm_table(rows):
    if not rows:
        return ""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("\t".join(c.ljust(widths[i]) if i < len(r) - 1 else c for i, c in enumerate(r)) for r in rows)


def helm_find(ctx, name):
    ns = ctx.cmd.get("namespace") or "default"
    st = ctx.store.read()
    cluster = helm_cluster(ctx, st)
    hist = history(cluster, ns, name)
    if not hist:
        raise Fail("release: not found")
    rev = ctx.cmd.get("revision")
    if rev:
        rel = next((r for r in hist if str(r["version"]) == str(rev)), None)
        if rel is None:
            raise Fail("release: not found")
        return rel
    return hist[-1]


def helm_status(ctx):
    cmd = ctx.cmd
    if len(cmd.pos) != 1:
        raise Fail('"helm status" requires 1 argument\n\nUsage:  helm status RELEASE_NAME [flags]')
    fmt = check_output_format(cmd.get("output"))
    ctx.sleep_latency()
    print_status(ctx, helm_find(ctx, cmd.pos[0]), fmt)


def helm_get_values(ctx):
    cmd = ctx.cmd
    if len(cmd.pos) != 1:
        raise Fail('"helm get values" requires 1 argument\n\nUsage:  helm get values RELEASE_NAME [flags]')
    fmt = check_output_format(cmd.get("output"))
    ctx.sleep_latency()
    rel = helm_find(ctx, cmd.pos[0])
    vals = coalesce(rel.get("chart_values") or {}, rel["config"]) if cmd.get("all") else rel["config"]
    if fmt == "json":
        out(go_json(vals))
    elif fmt == "yaml":
        out(yaml_dump(vals))
    else:
        out(("COMPUTED VALUES:\n" if cmd.get("all") else "USER-SUPPLIED VALUES:\n") + (yaml_dump(vals) if vals
                                                                                        else "null"))


def helm_get_manifest(ctx):
    cmd = ctx.cmd
    if len(cmd.pos) != 1:
        raise Fail('"helm get manifest" requires 1 argument\n\nUsage:  helm get manifest RELEASE_NAME [flags]')
    ctx.sleep_latency()
    sys.stdout.write(manifest_of(helm_find(ctx, cmd.pos[0])))


def helm_history(ctx):
    cmd = ctx.cmd
    if len(cmd.pos) != 1:
        raise Fail('"helm history" requires 1 argument\n\nUsage:  helm history RELEASE_NAME [flags]')
    fmt = check_output_format(cmd.get("output"))
    ctx.sleep_latency()
    ns = cmd.get("namespace") or "default"
    cluster = helm_cluster(ctx, ctx.store.read())
    hist = history(cluster, ns, cmd.pos[0])
    if not hist:
        raise Fail("release: not found")
    items = [{"revision": r["version"], "updated": rfc3339nano(r["last_deployed"]), "status": r["status"],
              "chart": "%s-%s" % (r["chart"]["name"], r["chart"]["version"]),
              "app_version": r["chart"].get("appVersion", ""), "description": r["description"]} for r in hist]
    if fmt == "json":
        out(go_struct_json(items))
    elif fmt == "yaml":
        out(yaml_dump(items))
    else:
        rows = [["REVISION", "UPDATED", "STATUS", "CHART", "APP VERSION", "DESCRIPTION"]]
        rows += [[str(r["version"]), ansic(r["last_deployed"]), r["status"], i["chart"], i["app_version"],
                  r["description"]] for r, i in zip(hist, items)]
        out(helm_table(rows))


def helm_version(ctx):
    cmd = ctx.cmd
    v = ctx.version("helm")
    info = dict(HELM_BUILD, Version=v)
    if cmd.get("template"):
        out(go_template(cmd.get("template"), info, "helm"))
    elif cmd.get("short"):
        out("%s+g%s" % (v, info["GitCommit"][:7]))
    else:
        out('version.BuildInfo{Version:"%s", GitCommit:"%s", GitTreeState:"%s", GoVersion:"%s"}'
            % (v, info["GitCommit"], info["GitTreeState"], info["GoVersion"]))


HELM_GLOBAL = flagspec("kube-context:str", "namespace|n:str", "kubeconfig:str", "debug", "burst-limit:str",
                       "qps:str", "registry-config:str", "repository-cache:str", "repository-config:str",
                       "kube-apiserver:str", "kube-token:str", "kube-as-user:str", "kube-as-group:list",
                       "kube-ca-file:str", "kube-insecure-skip-tls-verify", "kube-tls-server-name:str", "help|h")
_DEPLOY = ("version:str", "create-namespace", "values|f:list", "set:list", "set-string:list", "wait",
           "wait-for-jobs", "timeout:str", "labels|l:str", "output|o:str", "atomic", "cleanup-on-fail", "force",
           "description:str", "devel", "skip-crds", "history-max:str", "hide-notes", "disable-openapi-validation",
           "skip-schema-validation", "dependency-update", "render-subchart-notes", "enable-dns", "no-hooks",
           "verify", "keyring:str", "repo:str", "username:str", "password:str", "ca-file:str", "cert-file:str",
           "key-file:str", "insecure-skip-tls-verify", "plain-http", "pass-credentials",
           "dry-run:x", "set-file:x", "set-json:x", "set-literal:x", "post-renderer:x", "post-renderer-args:x",
           "take-ownership:x")
HELM_COMMANDS = {
    ("upgrade",): (flagspec("install|i", "reset-values", "reuse-values", "reset-then-reuse-values:x", *_DEPLOY),
                   helm_upgrade),
    ("install",): (flagspec("generate-name|g:x", "name-template:x", "replace:x", *_DEPLOY), helm_install),
    ("uninstall",): (flagspec("wait", "timeout:str", "ignore-not-found", "keep-history", "no-hooks", "cascade:str",
                              "description:str", "dry-run:x"), helm_uninstall),
    ("rollback",): (flagspec("wait", "timeout:str", "force", "recreate-pods", "cleanup-on-fail", "no-hooks",
                             "history-max:str", "wait-for-jobs", "dry-run:x"), helm_rollback),
    ("list",): (flagspec("all|a", "all-namespaces|A", "output|o:str", "selector|l:str", "filter|f:str", "short|q",
                         "date|d", "reverse|r", "max|m:str", "offset:str", "deployed", "failed", "pending",
                         "superseded", "uninstalled", "uninstalling", "no-headers", "time-format:str"), helm_list),
    ("status",): (flagspec("output|o:str", "revision:str", "show-desc", "show-resources"), helm_status),
    ("get", "values"): (flagspec("output|o:str", "all|a", "revision:str"), helm_get_values),
    ("get", "manifest"): (flagspec("revision:str"), helm_get_manifest),
    ("history",): (flagspec("output|o:str", "max:str"), helm_history),
    ("version",): (flagspec("short", "template:str", "client|c"), helm_version),
    ("template",): ({}, None), ("pull",): ({}, None), ("show",): ({}, None), ("repo",): ({}, None),
    ("registry",): ({}, None), ("get", "all"): ({}, None), ("get", "notes"): ({}, None), ("test",): ({}, None),
    ("dependency",): ({}, None), ("lint",): ({}, None), ("package",): ({}, None), ("search",): ({}, None),
}
HELM_ALIASES = {"un": "uninstall", "del": "uninstall", "delete": "uninstall", "ls": "list", "hist": "history"}


def helm_usage(words, unknown, flag_error=None):
    if flag_error:
        return Fail("Error: " + flag_error)
    if unknown:
        return Fail('Error: unknown command "%s" for "helm"\nRun \'helm --help\' for usage.' % unknown)
    return Fail("The Kubernetes package manager\n\nUsage:\n  helm [command]", 0)


def helm_stdin_wanted(cmd):
    return "-" in cmd.get("values", [])


# ----------------------------------------------------------------------------
# kubectl
# ----------------------------------------------------------------------------

KUSTOMIZE_VERSION = "v5.6.0"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
META_FIELDS = {"name", "generateName", "namespace", "labels", "annotations", "finalizers", "ownerReferences", "uid",
               "resourceVersion", "creationTimestamp", "generation", "deletionTimestamp",
               "deletionGracePeriodSeconds", "managedFields", "selfLink"}
CORE_FIELDS = {"ConfigMap": {"apiVersion", "kind", "metadata", "data", "binaryData", "immutable"},
               "Secret": {"apiVersion", "kind", "metadata", "data", "stringData", "type", "immutable"},
               "Namespace": {"apiVersion", "kind", "metadata", "spec", "status"},
               "ServiceAccount": {"apiVersion", "kind", "metadata", "secrets", "imagePullSecrets",
                                  "automountServiceAccountToken"}}


def kubectl_cluster(ctx, st):
    cmd = ctx.cmd
    context = cmd.get("context")
    if not context:
        raise Fail("The connection to the server localhost:8080 was refused - did you specify the right host or port?")
    cluster = cluster_for_context(st, context)
    if cluster is None:
        if cmd.get("namespace"):
            raise Fail('error: context "%s" does not exist' % context)
        raise Fail("Error in configuration: context was not found for specified context: %s" % context)
    if not node_running(st, cluster):
        raise Fail("The connection to the server 127.0.0.1:%d was refused - did you specify the right host or port?"
                   % cluster["api_port"])
    return cluster


def kubectl_minor(ctx):
    return int(ctx.version("kubectl").split(".")[1])


def check_kubectl_output(fmt, allowed=("json", "yaml", "name", "wide")):
    if fmt in (None, ""):
        return ""
    base = fmt.split("=", 1)[0]
    if base in allowed or base in ("jsonpath", "jsonpath-as-json"):
        return fmt
    if base in ("custom-columns", "custom-columns-file", "go-template", "go-template-file", "template",
                "templatefile", "jsonpath-file"):
        raise unsupported("kubectl -o %s" % base)
    raise Fail('error: unable to match a printer suitable for the output format "%s", allowed formats are: '
               'custom-columns,custom-columns-file,go-template,go-template-file,json,jsonpath,jsonpath-as-json,'
               'jsonpath-file,name,template,templatefile,wide,yaml' % fmt)


def kubectl_selector(cmd):
    try:
        return parse_selector(cmd.get("selector", ""))
    except ValueError as e:
        raise Fail("error: unable to parse requirement: invalid label selector: %s" % e)


def field_selector_matches(text, obj):
    for part in [p for p in (text or "").split(",") if p]:
        k, op, v = (part.partition("!=") if "!=" in part else part.partition("=="))
        if not op:
            k, op, v = part.partition("=")
        op = "!=" if op == "!=" else "="
        val = {"metadata.name": obj["metadata"].get("name"), "metadata.namespace": obj["metadata"].get("namespace"),
               "status.phase": (obj.get("status") or {}).get("phase")}.get(k)
        if val is None and k not in ("metadata.name", "metadata.namespace", "status.phase"):
            raise Fail('Error from server (BadRequest): Unable to find "%s" that match label selector "", field '
                       'selector "%s": field label not supported: %s' % (obj.get("kind", ""), text, k))
        if (val == v) != (op == "="):
            return False
    return True


def resolve_args(ctx, cluster, args):
    """[(RType, [names])] from `TYPE[,TYPE] [NAME...]` or `TYPE/NAME...`."""
    if not args:
        raise Fail('You must specify the type of resource to %s. Use "kubectl api-resources" for a complete list of '
                   'supported resources.\n\nerror: Required resource not specified.' % ctx.cmd.words[0])
    pairs = []
    if "/" in args[0]:
        for a in args:
            t, slash, n = a.partition("/")
            if not slash:
                raise Fail("error: there is no need to specify a resource type as a separate argument when passing "
                           "arguments in resource/name form (e.g. 'kubectl get resource/<resource_name>' instead of "
                           "'kubectl get resource resource/<resource_name>'")
            rt = resolve_type(cluster, t)
            if rt is None:
                raise Fail('error: the server doesn\'t have a resource type "%s"' % t)
            pairs.append((rt, [n]))
        return pairs, True
    types = []
    for t in args[0].split(","):
        rt = resolve_type(cluster, t)
        if rt is None:
            raise Fail('error: the server doesn\'t have a resource type "%s"' % t)
        types.append(rt)
    return [(rt, list(args[1:])) for rt in types], False


def helm_storage_secrets(cluster):
    """helm's release records, as `kubectl get secrets` shows them."""
    res = []
    for hist in cluster["releases"].values():
        for r in hist:
            labels = {"name": r["name"], "owner": "helm", "status": r["status"], "version": str(r["version"])}
            labels.update(r.get("labels") or {})
            res.append({"apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1",
                        "metadata": {"name": "sh.helm.release.v1.%s.v%d" % (r["name"], r["version"]),
                                     "namespace": r["namespace"], "labels": labels,
                                     "creationTimestamp": rfc3339(r["first_deployed"] if r["version"] == 1
                                                                  else r["last_deployed"]),
                                     "uid": sha256("rel" + r["name"] + str(r["version"]))[:36],
                                     "resourceVersion": "1"},
                        "data": {"release": b64(go_json({"name": r["name"], "version": r["version"]}))}})
    return res


def objects_of_type(cluster, rt, ns):
    objs = objects_of(cluster, rt.group, rt.kind, ns if rt.namespaced else None)
    if rt.kind == "Secret" and rt.group == "":
        objs += [s for s in helm_storage_secrets(cluster) if ns is None or s["metadata"]["namespace"] == ns]
        objs.sort(key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
    return objs


def find_object(cluster, rt, ns, name):
    o = get_obj(cluster, rt.group, rt.kind, ns if rt.namespaced else "", name)
    if o is None and rt.kind == "Secret" and rt.group == "":
        o = next((s for s in helm_storage_secrets(cluster)
                  if s["metadata"]["name"] == name and s["metadata"]["namespace"] == ns), None)
    return o


def not_found(rt, name):
    return 'Error from server (NotFound): %s "%s" not found' % (rt.qualified, name)


def k8s_list(items):
    return {"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}}


def kjson(obj):
    return go_indent_json(obj)


def print_objects(ctx, pairs_found, fmt, single, all_ns, ns):
    """kubectl's printers for -o json|yaml|name|jsonpath and the table."""
    objs = [o for _, o in pairs_found]
    if fmt == "json":
        out(kjson(objs[0] if single and objs else k8s_list(objs)))
    elif fmt == "yaml":
        out(yaml_dump(objs[0] if single and objs else k8s_list(objs)))
    elif fmt == "name":
        for rt, o in pairs_found:
            out("%s/%s" % (rt.name_prefix, o["metadata"]["name"]))
    elif fmt.startswith("jsonpath"):
        tpl = fmt.split("=", 1)[1] if "=" in fmt else ""
        tpl = tpl.strip("'") if tpl.startswith("'") else tpl
        if fmt.startswith("jsonpath-as-json"):
            out(kjson(_jp_eval(tpl.strip("{}"), objs[0] if single and objs else k8s_list(objs))))
        else:
            sys.stdout.write(jsonpath(tpl, objs[0] if single and objs else k8s_list(objs)))
    else:
        groups = []
        for rt, o in pairs_found:
            if not groups or groups[-1][0] is not rt:
                groups.append((rt, []))
            groups[-1][1].append(o)
        multi = len({id(rt) for rt, _ in groups}) > 1
        blocks = [table_for(rt, items, all_ns, multi, ctx.cmd.get("show-labels")) for rt, items in groups]
        if blocks:
            out("\n\n".join(blocks))


def table_for(rt, items, all_ns, prefix_type, show_labels):
    t = now()

    def age(o):
        ts = o["metadata"].get("creationTimestamp")
        if not ts:
            return "<unknown>"
        import calendar
        return human_age(t - calendar.timegm(time.strptime(ts, "%Y-%m-%dT%H:%M:%SZ")))

    def name(o):
        return ("%s/%s" % (rt.name_prefix, o["metadata"]["name"])) if prefix_type else o["metadata"]["name"]

    k = rt.kind
    if k == "ConfigMap":
        head, row = ["NAME", "DATA", "AGE"], lambda o: [name(o), str(len(o.get("data") or {}) +
                                                                    len(o.get("binaryData") or {})), age(o)]
    elif k == "Secret":
        head, row = ["NAME", "TYPE", "DATA", "AGE"], lambda o: [name(o), o.get("type", "Opaque"),
                                                               str(len(o.get("data") or {})), age(o)]
    elif k == "Pod":
        def row(o):
            cs = (o.get("status") or {}).get("containerStatuses") or []
            ready = sum(1 for c in cs if c.get("ready"))
            phase = "Terminating" if o["metadata"].get("deletionTimestamp") else (o.get("status") or {}).get("phase",
                                                                                                             "Pending")
            return [name(o), "%d/%d" % (ready, len((o.get("spec") or {}).get("containers") or [])), phase,
                    str(sum(c.get("restartCount", 0) for c in cs)), age(o)]
        head = ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    elif k == "Namespace":
        head, row = ["NAME", "STATUS", "AGE"], lambda o: [name(o), (o.get("status") or {}).get("phase", "Active"),
                                                         age(o)]
    elif k == "Deployment":
        def row(o):
            s, want = o.get("status") or {}, (o.get("spec") or {}).get("replicas", 1)
            return [name(o), "%d/%d" % (s.get("readyReplicas", 0), want), str(s.get("updatedReplicas", 0)),
                    str(s.get("availableReplicas", 0)), age(o)]
        head = ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    elif k == "Node":
        head = ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
        row = lambda o: [name(o), "Ready", "control-plane" if "control-plane" in o["metadata"]["name"] else "<none>",
                         age(o), o.get("status", {}).get("nodeInfo", {}).get("kubeletVersion", "")]
    elif k == "CustomResourceDefinition":
        head, row = ["NAME", "CREATED AT"], lambda o: [name(o), o["metadata"].get("creationTimestamp", "")]
    elif k == "AutoscalingRunnerSet":
        def row(o):
            sp, s = o.get("spec") or {}, o.get("status") or {}
            return [name(o), str(sp.get("minRunners", "")), str(sp.get("maxRunners", "")),
                    str(s.get("currentRunners", "")), s.get("phase", ""), str(s.get("pendingEphemeralRunners", "")),
                    str(s.get("runningEphemeralRunners", "")), "", ""]
        head = ["NAME", "MINIMUM RUNNERS", "MAXIMUM RUNNERS", "CURRENT RUNNERS", "STATE", "PENDING RUNNERS",
                "RUNNING RUNNERS", "FINISHED RUNNERS", "DELETING RUNNERS"]
    else:
        head, row = ["NAME", "AGE"], lambda o: [name(o), age(o)]
    rows = [head] + [row(o) for o in items]
    if all_ns and rt.namespaced:
        rows[0] = ["NAMESPACE"] + rows[0]
        for i, o in enumerate(items):
            rows[i + 1] = [o["metadata"].get("namespace", "")] + rows[i + 1]
    if show_labels:
        rows[0].append("LABELS")
        for i, o in enumerate(items):
            rows[i + 1].append(",".join("%s=%s" % kv for kv in sorted((o["metadata"].get("labels") or {}).items()))
                               or "<none>")
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("   ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip() for r in rows)


def kubectl_get(ctx):
    cmd = ctx.cmd
    fmt = check_kubectl_output(cmd.get("output"))
    reqs = kubectl_selector(cmd)
    ctx.sleep_latency()
    st = ctx.store.read()
    cluster = kubectl_cluster(ctx, st)
    pairs, _ = resolve_args(ctx, cluster, cmd.pos)
    ns = cmd.get("namespace") or "default"
    all_ns = bool(cmd.get("all-namespaces"))
    named = any(names for _, names in pairs)
    if named and (cmd.get("selector") or cmd.get("all")):
        raise Fail("error: selectors and the all flag cannot be used when passing resource/name arguments")
    if named and all_ns:
        raise Fail("error: a resource cannot be retrieved by name across all namespaces")
    found, errors = [], []
    for rt, names in pairs:
        if names:
            for n in names:
                o = find_object(cluster, rt, ns, n)
                if o is None:
                    if not cmd.get("ignore-not-found"):
                        errors.append(not_found(rt, n))
                else:
                    found.append((rt, o))
        else:
            for o in objects_of_type(cluster, rt, None if all_ns else ns):
                if selector_matches(reqs, o["metadata"].get("labels")) and \
                        field_selector_matches(cmd.get("field-selector"), o):
                    found.append((rt, o))
    single = named and sum(len(n) for _, n in pairs) == 1
    if found or fmt in ("json", "yaml") or fmt.startswith("jsonpath"):
        if found or not single:
            print_objects(ctx, found, fmt, single and bool(found), all_ns, ns)
    elif not named and not errors and fmt != "name":
        err("No resources found" + ("" if all_ns or not any(rt.namespaced for rt, _ in pairs)
                                    else " in %s namespace." % ns))
    if errors:
        raise Fail("\n".join(errors))


def kubectl_decode(ctx, files):
    """(source, object) for each document of -f files; "-" is stdin."""
    docs = []
    for f in files:
        source = "STDIN" if f == "-" else f
        if f == "-":
            texts = [(source, ctx.stdin or "")]
        elif os.path.isdir(f):
            texts = []
            for n in sorted(os.listdir(f)):
                if n.endswith((".yaml", ".yml", ".json")):
                    with open(os.path.join(f, n)) as fh:
                        texts.append((os.path.join(f, n), fh.read()))
        elif os.path.exists(f):
            with open(f) as fh:
                texts = [(source, fh.read())]
        else:
            raise Fail('error: the path "%s" does not exist' % f)
        for src, text in texts:
            try:
                parsed = yaml_load_all(text)
            except YamlError as e:
                raise Fail("error: error parsing %s: %s" % (src, e))
            for d in parsed:
                if not isinstance(d, dict):
                    raise Fail('error: unable to decode "%s": json: cannot unmarshal %s into Go value of type '
                               'map[string]interface {}' % (src, _go_type(d)))
                if isinstance(d.get("items"), list) and str(d.get("kind", "")).endswith("List"):
                    docs += [(src, i) for i in d["items"]]
                else:
                    docs.append((src, d))
    return docs


def client_validate(src, d):
    missing = [f + " not set" for f in ("apiVersion", "kind") if not d.get(f)]
    if missing:
        raise Fail('error: error validating "%s": error validating data: %s; if you choose to ignore these errors, '
                   'turn validation off with --validate=false' % (src, missing[0] if len(missing) == 1
                                                                  else "[" + ", ".join(missing) + "]"))


def server_validate(cluster, rt, d, verb, src):
    """The API server's decoding and validation; an error string or None."""
    kind, md = d["kind"], d.get("metadata") or {}
    bad = "Error from server (BadRequest): error when %s \"%s\": %s in version \"%s\" cannot be handled as a %s: " \
          % (verb, src, kind, rt.version, kind)
    if not isinstance(md, dict):
        return bad + "json: cannot unmarshal %s into Go struct field %s.metadata of type v1.ObjectMeta" \
            % (_go_type(md), kind)
    if rt.group == "" and kind in CORE_FIELDS:
        unknown = [k for k in d if k not in CORE_FIELDS[kind]] + \
                  ["metadata." + k for k in md if k not in META_FIELDS]
        if unknown:
            return bad + "strict decoding error: " + ", ".join('unknown field "%s"' % u for u in unknown)
    for field in ("labels", "annotations"):
        for k, v in (md.get(field) or {}).items():
            if not isinstance(v, str):
                return bad + "json: cannot unmarshal %s into Go struct field ObjectMeta.metadata.%s of type string" \
                    % (_go_type(v), field)
    for field in ("data", "stringData") if kind in ("ConfigMap", "Secret") else ():
        for k, v in (d.get(field) or {}).items():
            if not isinstance(v, str):
                return bad + "json: cannot unmarshal %s into Go struct field %s.%s of type %s" \
                    % (_go_type(v), kind, field, "string" if kind == "ConfigMap" or field == "stringData" else "[]uint8")
    if kind == "Secret":
        import base64
        import binascii
        for k, v in (d.get("data") or {}).items():
            try:
                base64.b64decode(v, validate=True)
            except (binascii.Error, ValueError):
                return bad + "illegal base64 data at input byte %d" % max(len(v.rstrip("=")) - 1, 0)
    name = md.get("name", "")
    errs = name_errors(name, label=kind == "Namespace")
    errs += label_errors(md.get("labels"))
    ann_size = sum(len(k) + len(v) for k, v in (md.get("annotations") or {}).items())
    if ann_size > 262144:
        errs.append("metadata.annotations: Too long: must have at most 262144 bytes")
    if kind in ("ConfigMap", "Secret"):
        size = 0
        for field in ("data", "binaryData", "stringData"):
            for k, v in (d.get(field) or {}).items():
                size += len(v)
                if len(k) > 253 or not full_match(CONFIG_KEY, k):
                    errs.append('%s[%s]: Invalid value: "%s": a valid config key must consist of alphanumeric '
                                'characters, \'-\', \'_\' or \'.\' (e.g. \'key.name\',  or \'KEY_NAME\',  or '
                                '\'key-name\', regex used for validation is \'%s\')' % (field, k, k, CONFIG_KEY))
        if size > 1048576:
            errs.append(("[]" if kind == "ConfigMap" else "data") + ": Too long: must have at most 1048576 bytes")
    if errs:
        return "Error from server (Invalid): error when %s \"%s\": %s" % (verb, src, invalid(rt.kind_group, name, errs))
    return None


def server_defaults(rt, obj):
    """Fields the API server fills in."""
    kind, md = obj["kind"], obj["metadata"]
    if kind == "Secret":
        data = dict(obj.get("data") or {})
        for k, v in (obj.pop("stringData", None) or {}).items():
            data[k] = b64(v)
        if data or "data" in obj:
            obj["data"] = data
        obj.setdefault("type", "Opaque")
    elif kind == "Namespace":
        md.setdefault("labels", {})["kubernetes.io/metadata.name"] = md["name"]
        obj.setdefault("spec", {"finalizers": ["kubernetes"]})
        obj["status"] = {"phase": "Active"}
    elif kind == "CustomResourceDefinition":
        obj.update(establish_crd(obj))
    elif kind == "Deployment":
        obj["status"] = deployment("", "", {})["status"]
    elif kind == "Pod":
        obj["status"] = running_pod("", "", {})["status"]
    return obj


def kubectl_apply(ctx):
    kubectl_write(ctx, "apply")


def kubectl_create(ctx):
    if ctx.cmd.pos:
        raise unsupported("kubectl create %s" % ctx.cmd.pos[0])
    kubectl_write(ctx, "create")


def kubectl_write(ctx, verb):
    """kubectl apply -f / create -f: decode, validate, write, report."""
    cmd = ctx.cmd
    files = cmd.get("filename", [])
    if cmd.get("kustomize"):
        raise unsupported("kubectl %s -k" % verb)
    if cmd.get("prune"):
        raise unsupported("kubectl apply --prune")
    if not files:
        raise Fail("error: must specify one of -f and -k")
    dry = cmd.get("dry-run", "none")
    if dry not in ("none", "client", "server"):
        raise Fail('error: Invalid dry-run value (%s). Must be "none", "server", or "client".' % dry)
    fmt = check_kubectl_output(cmd.get("output"), allowed=("json", "yaml", "name"))
    server_side = verb == "apply" and cmd.get("server-side")
    docs = kubectl_decode(ctx, files)
    if not docs:
        raise Fail("error: no objects passed to %s" % verb)
    for src, d in docs:
        client_validate(src, d)
    ctx.sleep_latency()
    flag_ns = cmd.get("namespace")
    errors, printed = [], []
    with ctx.store.transaction() as st:
        cluster = kubectl_cluster(ctx, st)
        for src, d in docs:
            d = deepcopy(d)
            md = d.get("metadata") if isinstance(d.get("metadata"), dict) else {}
            rt = type_for_kind(cluster, str(d["apiVersion"]), str(d["kind"]))
            if rt is None:
                errors.append('error: resource mapping not found for name: "%s" namespace: "%s" from "%s": no '
                              'matches for kind "%s" in version "%s"\nensure CRDs are installed first'
                              % (md.get("name", ""), md.get("namespace", ""), src, d["kind"], d["apiVersion"]))
                continue
            ns = ""
            if rt.namespaced:
                if md.get("namespace") and flag_ns and md["namespace"] != flag_ns:
                    raise Fail("error: the namespace from the provided object \"%s\" does not match the namespace "
                               "\"%s\". You must pass '--namespace=%s' to perform this operation."
                               % (md["namespace"], flag_ns, md["namespace"]))
                ns = md.get("namespace") or flag_ns or "default"
                if isinstance(d.get("metadata"), dict):
                    d["metadata"]["namespace"] = ns
            elif isinstance(d.get("metadata"), dict):
                d["metadata"].pop("namespace", None)
            if not md.get("name"):
                errors.append('error: error when retrieving current configuration of:\nResource: "%s, Resource=%s", '
                              'GroupVersionKind: "%s, Kind=%s"\nName: "", Namespace: "%s"\nfrom server for: "%s": '
                              'resource name may not be empty' % (rt.api_version if rt.group else "/" + rt.version,
                                                                  rt.plural, rt.api_version if rt.group else "/" +
                                                                  rt.version, rt.kind, ns, src))
                continue
            existing = find_object(cluster, rt, ns, md["name"])
            wverb = "creating" if existing is None else "patching"
            if rt.namespaced and not namespace_exists(cluster, ns):
                nso = get_obj(cluster, "", "Namespace", "", ns)
                if nso is None:
                    errors.append('Error from server (NotFound): error when %s "%s": namespaces "%s" not found'
                                  % (wverb, src, ns))
                else:
                    errors.append('Error from server (Forbidden): error when %s "%s": %s "%s" is forbidden: unable to '
                                  'create new content in namespace %s because it is being terminated'
                                  % (wverb, src, rt.qualified, md["name"], ns))
                continue
            if verb == "create" and existing is not None:
                errors.append('Error from server (AlreadyExists): error when creating "%s": %s "%s" already exists'
                              % (src, rt.qualified, md["name"]))
                continue
            if verb == "apply" and not server_side:
                applied = deepcopy(d)
                ann = d["metadata"].setdefault("annotations", {})
                if isinstance(ann, dict):
                    ann[LAST_APPLIED] = go_json(applied) + "\n"
            problem = server_validate(cluster, rt, d, wverb, src)
            if problem:
                errors.append(problem)
                continue
            obj = server_defaults(rt, d)
            if existing is not None:
                for f in ("finalizers",):
                    if f in existing["metadata"] and f not in obj["metadata"]:
                        obj["metadata"][f] = existing["metadata"][f]
                if rt.kind not in ("Namespace",) and "status" in existing and rt.kind not in ("Deployment", "Pod",
                                                                                              "CustomResourceDefinition"):
                    obj["status"] = existing["status"]
            if dry == "none":
                result = put_obj(cluster, obj)
            else:
                result = "created" if existing is None else "configured"
            if server_side:
                result = "serverside-applied"
            suffix = {"client": " (dry run)", "server": " (server dry run)"}.get(dry, "")
            printed.append((rt, obj, result + suffix))
        if dry == "none":
            reconcile(cluster)
    for rt, obj, result in printed:
        if fmt == "name":
            out("%s/%s" % (rt.name_prefix, obj["metadata"]["name"]))
        elif fmt == "json":
            out(kjson(obj))
        elif fmt == "yaml":
            out(yaml_dump(obj))
        else:
            out("%s/%s %s" % (rt.name_prefix, obj["metadata"]["name"], result))
    if errors:
        raise Fail("\n".join(errors))


def kubectl_create_namespace(ctx):
    cmd = ctx.cmd
    if len(cmd.pos) != 1:
        raise Fail("error: exactly one NAME is required, got %d\nSee 'kubectl create namespace -h' for help and "
                   "examples" % len(cmd.pos))
    name = cmd.pos[0]
    errs = name_errors(name, label=True)
    ctx.sleep_latency()
    with ctx.store.transaction() as st:
        cluster = kubectl_cluster(ctx, st)
        if errs:
            raise Fail("The Namespace \"%s\" is invalid: %s" % (name, errs[0] if len(errs) == 1 else
                                                                 "[" + ", ".join(errs) + "]"))
        if get_obj(cluster, "", "Namespace", "", name) is not None:
            raise Fail('Error from server (AlreadyExists): namespaces "%s" already exists' % name)
        if cmd.get("dry-run", "none") == "none":
            make_namespace(cluster, name)
    out("namespace/%s created%s" % (name, {"client": " (dry run)", "server": " (server dry run)"}.get(
        cmd.get("dry-run", "none"), "")))


def kubectl_create_data(ctx):
    """kubectl create configmap|secret generic NAME --from-literal/--from-file."""
    cmd = ctx.cmd
    kind = "ConfigMap" if cmd.words[1] in ("configmap", "cm") else "Secret"
    if len(cmd.pos) != 1:
        raise Fail("error: exactly one NAME is required, got %d" % len(cmd.pos))
    data = {}
    for lit in cmd.get("from-literal", []):
        k, eq, v = lit.partition("=")
        if not eq:
            raise Fail('error: invalid literal source %s, expected key=value' % lit)
        data[k] = v
    for src in cmd.get("from-file", []):
        k, eq, path = src.partition("=")
        if not eq:
            k, path = os.path.basename(src), src
        try:
            with open(path) as f:
                data[k] = f.read()
        except OSError:
            raise Fail("error: error reading %s: no such file or directory" % path)
    obj = {"apiVersion": "v1", "kind": kind, "metadata": {"name": cmd.pos[0]}}
    if kind == "Secret":
        obj["type"] = cmd.get("type") or "Opaque"
        obj["data"] = {k: b64(v) for k, v in data.items()}
    else:
        obj["data"] = data
    dry = cmd.get("dry-run", "none")
    if dry == "client":
        obj["metadata"]["creationTimestamp"] = None
        if cmd.get("namespace"):
            obj["metadata"]["namespace"] = cmd.get("namespace")
        fmt = cmd.get("output") or ""
        out(kjson(obj) if fmt == "json" else yaml_dump(obj) if fmt == "yaml" else
            "%s/%s created (dry run)" % (kind.lower(), cmd.pos[0]))
        return
    # the rest is `kubectl create -f -` of that object
    ctx.stdin = json.dumps(obj)
    cmd.opts["filename"] = ["-"]
    kubectl_write(ctx, "create")


def kubectl_delete(ctx):
    cmd = ctx.cmd
    if cmd.get("filename"):
        docs = kubectl_decode(ctx, cmd.get("filename"))
        args = ["%s.%s/%s" % (d.get("kind", ""), d.get("apiVersion", "").rpartition("/")[0], (d.get("metadata") or
                                                                                                {}).get("name", ""))
                .replace("./", "/") for _, d in docs]
    else:
        args = cmd.pos
    reqs = kubectl_selector(cmd)
    wait = cmd.get("wait", True)
    timeout = parse_go_duration(cmd.get("timeout", "0s"))
    if timeout is None:
        raise Fail('error: invalid argument "%s" for "--timeout" flag: time: invalid duration "%s"'
                   % (cmd.get("timeout"), cmd.get("timeout")))
    ctx.sleep_latency()
    ns = cmd.get("namespace") or "default"
    errors, deleted, stuck = [], [], []
    with ctx.store.transaction() as st:
        cluster = kubectl_cluster(ctx, st)
        pairs, _ = resolve_args(ctx, cluster, args)
        named = any(n for _, n in pairs)
        if not named and not cmd.get("selector") and not cmd.get("all") and not cmd.get("field-selector"):
            raise Fail("error: resource(s) were provided, but no name was specified")
        targets = []
        for rt, names in pairs:
            if names:
                for n in names:
                    o = find_object(cluster, rt, ns, n)
                    if o is None:
                        if not cmd.get("ignore-not-found"):
                            errors.append(not_found(rt, n))
                    else:
                        targets.append((rt, o))
            else:
                for o in objects_of_type(cluster, rt, None if cmd.get("all-namespaces") else ns):
                    if selector_matches(reqs, o["metadata"].get("labels")) and \
                            field_selector_matches(cmd.get("field-selector"), o):
                        targets.append((rt, o))
        for rt, o in targets:
            if o["kind"] == "Secret" and o.get("type") == "helm.sh/release.v1" and \
                    get_obj(cluster, "", "Secret", o["metadata"]["namespace"], o["metadata"]["name"]) is None:
                hist = cluster["releases"].get(rel_key(o["metadata"]["namespace"], o["metadata"]["labels"]["name"]),
                                               [])
                hist[:] = [r for r in hist if "sh.helm.release.v1.%s.v%d" % (r["name"], r["version"])
                           != o["metadata"]["name"]]
            else:
                delete_obj(cluster, o)
            deleted.append((rt, o))
        reconcile(cluster)
        for rt, o in deleted:
            if key_of(o) in cluster["objects"]:
                stuck.append((rt, o))
    minor = kubectl_minor(ctx)
    for rt, o in deleted:
        where = " from %s namespace" % o["metadata"]["namespace"] if minor >= 34 and rt.namespaced else ""
        out('%s "%s" deleted%s' % (rt.name_prefix, o["metadata"]["name"], where))
    if not deleted and not errors and not named:
        err("No resources found")
    if errors:
        raise Fail("\n".join(errors))
    if stuck and wait:
        # finalizers hold the objects: kubectl waits until its timeout
        time.sleep(timeout if timeout else 3600)
        raise Fail("error: timed out waiting for the condition on %s/%s" % (stuck[0][0].qualified,
                                                                          stuck[0][1]["metadata"]["name"]))


def kubectl_wait(ctx):
    cmd = ctx.cmd
    cond = cmd.get("for")
    if not cond:
        raise Fail("error: --for must be specified")
    timeout = parse_go_duration(cmd.get("timeout", "30s"))
    if timeout is None:
        raise Fail('error: invalid argument "%s" for "--timeout" flag: time: invalid duration "%s"'
                   % (cmd.get("timeout"), cmd.get("timeout")))
    if cond == "delete":
        check = None
    elif cond.lower().startswith("condition="):
        cname, _, cval = cond[len("condition="):].partition("=")
        cval = cval or "True"

        def check(o):
            return any(c.get("type", "").lower() == cname.lower() and str(c.get("status", "")).lower() == cval.lower()
                       for c in (o.get("status") or {}).get("conditions") or [])
    elif cond.startswith("jsonpath="):
        expr, _, want = cond[len("jsonpath="):].partition("=")
        expr = expr.strip("'{}")

        def check(o):
            vals = _jp_eval(expr, o)
            return bool(vals) and (not want or go_str(vals[0]) == want)
    else:
        raise Fail('error: unrecognized condition: "%s"' % cond)
    reqs = kubectl_selector(cmd)
    ctx.sleep_latency()
    ns = cmd.get("namespace") or "default"
    st = ctx.store.read()
    cluster = kubectl_cluster(ctx, st)
    pairs, _ = resolve_args(ctx, cluster, cmd.pos)
    targets, errors = [], []
    for rt, names in pairs:
        if names:
            for n in names:
                o = find_object(cluster, rt, ns, n)
                if o is None and check is not None:
                    errors.append('Error from server (NotFound): %s.%s "%s" not found'
                                  % (rt.plural, rt.group or rt.version, n) if rt.group else not_found(rt, n))
                elif o is not None:
                    targets.append((rt, o))
        else:
            objs = [o for o in objects_of_type(cluster, rt, None if cmd.get("all-namespaces") else ns)
                    if selector_matches(reqs, o["metadata"].get("labels"))]
            if not objs and check is not None:
                errors.append("error: no matching resources found")
            targets += [(rt, o) for o in objs]
    if errors:
        raise Fail("\n".join(errors))
    pending = [(rt, o) for rt, o in targets if check is not None and not check(o)]
    if check is None:
        pending = targets
    for rt, o in targets:
        if (rt, o) not in pending:
            out("%s/%s condition met" % (rt.name_prefix, o["metadata"]["name"]))
    if pending:
        time.sleep(timeout)
        rt, o = pending[0]
        raise Fail("error: timed out waiting for the condition on %s/%s" % (rt.qualified, o["metadata"]["name"]))


def kubectl_version(ctx):
    cmd = ctx.cmd
    v = ctx.version("kubectl")
    major, minor = v.lstrip("v").split(".")[:2]
    client = {"major": major, "minor": minor, "gitVersion": v, "gitCommit": "8adc0f041b8e7ad1d30e29cc59c6ae7a15e19828",
              "gitTreeState": "clean", "buildDate": "2025-05-15T08:27:33Z", "goVersion": "go1.24.2", "compiler": "gc",
              "platform": "linux/amd64"}
    data = {"clientVersion": client, "kustomizeVersion": KUSTOMIZE_VERSION}
    fmt = cmd.get("output") or ""
    if fmt not in ("", "json", "yaml"):
        raise Fail("error: --output must be 'yaml' or 'json'")
    server_err = None
    if not cmd.get("client"):
        try:
            cluster = kubectl_cluster(ctx, ctx.store.read())
            sv = kube_version(None, cluster)
            smaj, smin = sv.lstrip("v").split(".")[:2]
            data["serverVersion"] = {"major": smaj, "minor": smin, "gitVersion": sv, "gitTreeState": "clean",
                                     "goVersion": "go1.24.2", "compiler": "gc", "platform": "linux/amd64"}
        except Fail as e:
            server_err = e
    if fmt == "json":
        out(go_indent_json(data, indent=2, sort=False))
    elif fmt == "yaml":
        out(yaml_dump(data))
    else:
        out("Client Version: %s\nKustomize Version: %s" % (v, KUSTOMIZE_VERSION))
        if "serverVersion" in data:
            out("Server Version: %s" % data["serverVersion"]["gitVersion"])
    if server_err:
        raise server_err


def kubectl_contexts(st):
    return ["kind-" + n for n in sorted(st["clusters"])]


def kubectl_config_get_contexts(ctx):
    cmd = ctx.cmd
    names = kubectl_contexts(ctx.store.read())
    if cmd.pos:
        missing = [p for p in cmd.pos if p not in names]
        if missing:
            raise Fail('error: context %s not found' % missing[0])
        names = [n for n in names if n in cmd.pos]
    fmt = cmd.get("output") or ""
    if fmt == "name":
        for n in names:
            out(n)
        return
    if fmt:
        raise Fail("error: output must be one of '' or 'name'")
    rows = [] if cmd.get("no-headers") else [["CURRENT", "NAME", "CLUSTER", "AUTHINFO", "NAMESPACE"]]
    rows += [["", n, n, n, ""] for n in names]
    if rows:
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        out("\n".join("   ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip() for r in rows))


def kubectl_config_current_context(ctx):
    raise Fail("error: current-context is not set")


def kubectl_config_view(ctx):
    st = ctx.store.read()
    names = kubectl_contexts(st)
    cfg = {"apiVersion": "v1", "kind": "Config", "current-context": "", "preferences": {},
           "clusters": [{"name": n, "cluster": {"server": "https://127.0.0.1:%d" % st["clusters"][n[5:]]["api_port"],
                                                "certificate-authority-data": "DATA+OMITTED"}} for n in names],
           "contexts": [{"name": n, "context": {"cluster": n, "user": n}} for n in names],
           "users": [{"name": n, "user": {"client-certificate-data": "DATA+OMITTED",
                                          "client-key-data": "DATA+OMITTED"}} for n in names]}
    fmt = ctx.cmd.get("output") or "yaml"
    out(kjson(cfg) if fmt == "json" else yaml_dump(cfg))


def kubectl_cluster_info(ctx):
    ctx.sleep_latency()
    cluster = kubectl_cluster(ctx, ctx.store.read())
    url = "https://127.0.0.1:%d" % cluster["api_port"]
    out("Kubernetes control plane is running at %s\nCoreDNS is running at %s/api/v1/namespaces/kube-system/services/"
        "kube-dns:dns/proxy\n\nTo further debug and diagnose cluster problems, use 'kubectl cluster-info dump'." %
        (url, url))


KUBECTL_GLOBAL = flagspec("context:str", "namespace|n:str", "kubeconfig:str", "cluster:str", "user:str",
                          "request-timeout:str", "v|v:str", "server|s:str", "token:str", "insecure-skip-tls-verify",
                          "as:str", "as-group:list", "as-uid:str", "certificate-authority:str",
                          "client-certificate:str", "client-key:str", "tls-server-name:str", "match-server-version",
                          "warnings-as-errors", "profile:str", "profile-output:str", "cache-dir:str",
                          "disable-compression", "log-flush-frequency:str", "help|h")
_WRITE = ("filename|f:list", "recursive|R", "dry-run:opt=unchanged", "output|o:str", "validate:opt=strict",
          "field-manager:str", "save-config", "show-managed-fields", "template:str", "allow-missing-template-keys",
          "selector|l:str", "edit:x", "windows-line-endings", "raw:x", "kustomize|k:str")
KUBECTL_COMMANDS = {
    ("get",): (flagspec("output|o:str", "selector|l:str", "all-namespaces|A", "ignore-not-found", "show-labels",
                        "field-selector:str", "chunk-size:str", "no-headers", "label-columns|L:list", "sort-by:str",
                        "show-kind", "show-managed-fields", "watch|w:x", "watch-only:x", "raw:x", "subresource:str",
                        "template:str", "allow-missing-template-keys", "filename|f:list", "recursive|R",
                        "kustomize|k:str", "output-watch-events"), kubectl_get),
    ("apply",): (flagspec("server-side", "force-conflicts", "overwrite", "force", "grace-period:str", "wait",
                          "timeout:str", "cascade:opt=background", "prune", "all", "prune-allowlist:list",
                          "openapi-patch", *_WRITE), kubectl_apply),
    ("create",): (flagspec(*_WRITE), kubectl_create),
    ("create", "namespace"): (flagspec("dry-run:opt=unchanged", "output|o:str", "field-manager:str", "save-config",
                                       "validate:opt=strict"), kubectl_create_namespace),
    ("create", "ns"): (flagspec("dry-run:opt=unchanged", "output|o:str"), kubectl_create_namespace),
    ("create", "configmap"): (flagspec("from-literal:list", "from-file:list", "from-env-file:x", "dry-run:opt=unchanged",
                                       "output|o:str", "append-hash"), kubectl_create_data),
    ("create", "cm"): (flagspec("from-literal:list", "from-file:list", "dry-run:opt=unchanged", "output|o:str"),
                       kubectl_create_data),
    ("create", "secret", "generic"): (flagspec("from-literal:list", "from-file:list", "from-env-file:x", "type:str",
                                               "dry-run:opt=unchanged", "output|o:str", "append-hash"),
                                      kubectl_create_data),
    ("delete",): (flagspec("filename|f:list", "recursive|R", "selector|l:str", "all", "all-namespaces|A",
                           "ignore-not-found", "wait", "now", "force", "grace-period:str", "timeout:str",
                           "cascade:opt=background", "field-selector:str", "output|o:str", "dry-run:opt=unchanged",
                           "interactive|i:x", "raw:x", "kustomize|k:str"), kubectl_delete),
    ("wait",): (flagspec("for:str", "timeout:str", "selector|l:str", "all", "all-namespaces|A", "field-selector:str",
                         "filename|f:list", "recursive|R", "output|o:str", "local"), kubectl_wait),
    ("version",): (flagspec("client", "output|o:str", "short"), kubectl_version),
    ("config", "get-contexts"): (flagspec("output|o:str", "no-headers"), kubectl_config_get_contexts),
    ("config", "current-context"): ({}, kubectl_config_current_context),
    ("config", "view"): (flagspec("output|o:str", "minify", "raw", "flatten"), kubectl_config_view),
    ("cluster-info",): ({}, kubectl_cluster_info),
    ("config", "use-context"): ({}, None), ("config", "set-context"): ({}, None), ("label",): ({}, None),
    ("annotate",): ({}, None), ("patch",): ({}, None), ("replace",): ({}, None), ("edit",): ({}, None),
    ("logs",): ({}, None), ("exec",): ({}, None), ("describe",): ({}, None), ("rollout",): ({}, None),
    ("scale",): ({}, None), ("api-resources",): ({}, None), ("api-versions",): ({}, None), ("run",): ({}, None),
    ("port-forward",): ({}, None), ("top",): ({}, None), ("diff",): ({}, None), ("explain",): ({}, None),
    ("auth",): ({}, None), ("cp",): ({}, None), ("events",): ({}, None),
}


def kubectl_usage(words, unknown, flag_error=None):
    if flag_error:
        return Fail("error: %s\nSee 'kubectl %s --help' for usage." % (flag_error, " ".join(words or [])))
    if unknown:
        return Fail('error: unknown command "%s" for "kubectl"' % unknown)
    return Fail("kubectl controls the Kubernetes cluster manager.\n\nUsage:\n  kubectl [flags] [options]", 0)


def kubectl_stdin_wanted(cmd):
    return "-" in cmd.get("filename", [])


# ----------------------------------------------------------------------------
# main
# ----------------------------------------------------------------------------

TOOLS = {
    "kind": (KIND_GLOBAL, KIND_COMMANDS, kind_usage, kind_stdin_wanted, {}),
    "docker": (DOCKER_GLOBAL, DOCKER_COMMANDS, docker_usage, lambda cmd: False, {}),
    "helm": (HELM_GLOBAL, HELM_COMMANDS, helm_usage, helm_stdin_wanted, HELM_ALIASES),
    "kubectl": (KUBECTL_GLOBAL, KUBECTL_COMMANDS, kubectl_usage, kubectl_stdin_wanted, {}),
}


def run(tool, argv):
    root = os.environ.get("DESKRUN_FAKE_STATE")
    if not root:
        raise Fail("fake_tool: DESKRUN_FAKE_STATE is not set (the fake %s keeps its state there)" % tool,
                   EXIT_NO_STATE)
    if not os.path.isdir(root):
        raise Fail("fake_tool: DESKRUN_FAKE_STATE=%s is not a directory" % root, EXIT_NO_STATE)
    store = Store(root)
    global_spec, commands, usage, stdin_wanted, aliases = TOOLS[tool]
    args = [aliases.get(a, a) if i == _first_positional(argv, global_spec) else a for i, a in enumerate(argv)]
    cmd = parse_command(tool, args, commands, global_spec, usage)
    cmd.argv = argv
    if tool == "kind" and cmd.words == [] and cmd.opts.get("version"):
        cmd.error = None
    stdin = None
    if cmd.error is None and stdin_wanted(cmd):
        stdin = sys.stdin.read()
    fault = record_and_match_fault(store, cmd, stdin)
    action = apply_fault(fault) if fault else None
    if cmd.error is not None:
        raise cmd.error
    if tool == "kind" and not cmd.words:
        out("kind version %s" % DEFAULT_VERSIONS["kind"].lstrip("v"))
        return
    if cmd.handler is None:
        raise unsupported("%s %s" % (tool, " ".join(cmd.words)))
    if cmd.opts.get("__unsupported"):
        raise unsupported("%s %s %s" % (tool, " ".join(cmd.words), cmd.opts["__unsupported"][0]))
    ctx = Ctx(store, cmd, stdin, latency_for(store, cmd), action)
    try:
        cmd.handler(ctx)
    except Fail as e:
        if tool == "helm" and e.stderr and not e.stderr.startswith(("Error:", "fake_tool:")):
            e.stderr = "Error: " + e.stderr
        raise
    if action == "interrupt":
        # acted, then never answers (helm's mutating commands stop earlier:
        # with the release still pending, as a killed helm leaves it)
        hang()


def _first_positional(argv, global_spec):
    try:
        _, _, i = parse_flags(argv, global_spec, stop_at_positional=True)
        return i
    except Usage:
        return -1


def main():
    import signal
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    tool = os.path.basename(sys.argv[0])
    if tool.endswith(".py"):
        tool = os.environ.get("DESKRUN_FAKE_TOOL", "")
    if tool not in TOOLS:
        err("fake_tool: run me as kind, helm, kubectl or docker (a symlink named after the tool); got %r" % tool)
        return EXIT_NO_STATE
    try:
        run(tool, sys.argv[1:])
        return 0
    except Fail as e:
        if e.stdout:
            out(e.stdout)
        if e.stderr:
            err(e.stderr)
        return e.code
    except BrokenPipeError:
        return 141


if __name__ == "__main__":
    code = main()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        pass
    sys.exit(code)
