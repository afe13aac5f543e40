# image_test.awk: checks an image's expectations, for image_test (rules/private/image_test.bzl).
#
#   awk -f image_test.awk -v record=RECORD.json -v config=CONFIG.json \
#       -v expect_files=FILES.tsv -v expect_config=CONFIG.tsv
#
# RECORD.json is what `imagewriter unpack --metadata` wrote (every path of the image with its
# type, mode, uid, gid, linkname); CONFIG.json the image config blob. FILES.tsv has lines
# "PATH<TAB>SPEC" (PATH JSON-encoded, SPEC as image_test documents it); CONFIG.tsv has lines
# "POINTER<TAB>JSON" (an RFC 6901 JSON pointer and the expected value as compact JSON).
# Prints one line per failed expectation and exits 1 if there was any. POSIX awk only.

function die(msg) {
    printf "image_test: %s\n", msg > "/dev/stderr"
    failed_hard = 1
    exit 2
}

function slurp(path,    line, out, first, rc) {
    out = ""
    first = 1
    while ((rc = (getline line < path)) > 0) {
        out = out (first ? "" : "\n") line
        first = 0
    }
    if (rc < 0)
        die("cannot read " path)
    close(path)
    return out
}

function skip_ws(    c) {
    while (pos <= len) {
        c = substr(text, pos, 1)
        if (c == " " || c == "\t" || c == "\n" || c == "\r")
            pos++
        else
            break
    }
}

# A JSON string at pos, returned raw: quotes and escapes as written.
function parse_string(    start, c) {
    start = pos
    if (substr(text, pos, 1) != "\"")
        die(name ": expected a string at byte " pos)
    pos++
    while (1) {
        if (pos > len)
            die(name ": unterminated string")
        c = substr(text, pos, 1)
        if (c == "\\")
            pos += 2
        else if (c == "\"") {
            pos++
            break
        } else
            pos++
    }
    return substr(text, start, pos - start)
}

function pointer_key(raw,    k) {
    k = substr(raw, 2, length(raw) - 2)
    gsub(/~/, "~0", k)
    gsub(/\//, "~1", k)
    return k
}

# Parses the value at pos into out[POINTER] = compact JSON text, for every value at every
# depth when whole is set, for scalars only otherwise (the record is large, the config small).
function parse_value(out, path,    c, s, key, v, i, first) {
    skip_ws()
    c = substr(text, pos, 1)
    if (c == "{" || c == "[") {
        pos++
        s = c
        first = 1
        i = 0
        skip_ws()
        if (substr(text, pos, 1) == (c == "{" ? "}" : "]")) {
            pos++
            s = s (c == "{" ? "}" : "]")
            if (whole)
                out[path] = s
            return s
        }
        while (1) {
            skip_ws()
            if (c == "{") {
                key = parse_string()
                skip_ws()
                if (substr(text, pos, 1) != ":")
                    die(name ": expected ':' at byte " pos)
                pos++
                v = parse_value(out, path "/" pointer_key(key))
                if (whole)
                    s = s (first ? "" : ",") key ":" v
            } else {
                v = parse_value(out, path "/" i)
                if (whole)
                    s = s (first ? "" : ",") v
                i++
            }
            first = 0
            skip_ws()
            v = substr(text, pos, 1)
            pos++
            if (v == ",")
                continue
            if ((c == "{" && v == "}") || (c == "[" && v == "]"))
                break
            die(name ": unexpected '" v "' at byte " (pos - 1))
        }
        s = s (c == "{" ? "}" : "]")
        if (whole)
            out[path] = s
        return s
    }
    if (c == "\"") {
        s = parse_string()
        out[path] = s
        return s
    }
    s = ""
    while (pos <= len && index("-+0123456789.eEtruefalsn", substr(text, pos, 1)) > 0) {
        s = s substr(text, pos, 1)
        pos++
    }
    if (s == "")
        die(name ": unexpected '" c "' at byte " pos)
    out[path] = s
    return s
}

function parse(file, out, want_whole) {
    name = file
    text = slurp(file)
    len = length(text)
    pos = 1
    whole = want_whole
    parse_value(out, "")
}

function unquote(s) {
    return substr(s, 2, length(s) - 2)
}

function problem(msg) {
    print "image_test: " msg
    problems++
}

function check_file(path, spec,    n, tok, i, idx, t, want, got) {
    idx = ""
    if (path in paths)
        idx = paths[path]
    n = split(spec, tok, " ")
    if (n == 1 && tok[1] == "absent") {
        if (idx != "")
            problem("expect_files[" path "]: present (a " unquote(rec["/paths/" idx "/type"]) "), want absent")
        return
    }
    if (idx == "") {
        problem("expect_files[" path "]: absent, want " spec)
        return
    }
    for (i = 1; i <= n; i++) {
        t = tok[i]
        if (t == "present")
            continue
        if (t ~ /^(file|dir|symlink|hardlink|char|block|fifo)$/) {
            got = unquote(rec["/paths/" idx "/type"])
            if (got != t)
                problem("expect_files[" path "]: type is " got ", want " t)
        } else if (t ~ /^0?[0-7][0-7][0-7][0-7]?$/) {
            want = t
            while (length(want) < 4)
                want = "0" want
            if (length(want) > 4)
                want = substr(want, length(want) - 3)
            got = unquote(rec["/paths/" idx "/mode"])
            if (got != want)
                problem("expect_files[" path "]: mode is " got ", want " want)
        } else if (t ~ /^[0-9]+:[0-9]+$/) {
            got = rec["/paths/" idx "/uid"] ":" rec["/paths/" idx "/gid"]
            if (got != t)
                problem("expect_files[" path "]: owner is " got ", want " t)
        } else if (substr(t, 1, 2) == "->") {
            want = substr(t, 3)
            got = ("/paths/" idx "/linkname") in rec ? unquote(rec["/paths/" idx "/linkname"]) : ""
            if (got != want)
                problem("expect_files[" path "]: link target is \"" got "\", want \"" want "\"")
        } else
            die("expect_files[" path "]: " t ": not a type, an octal mode, UID:GID, ->TARGET, present or absent")
    }
}

BEGIN {
    FS = "\t"
    parse(record, rec, 0)
    for (i = 0; ("/paths/" i "/path") in rec; i++)
        paths[rec["/paths/" i "/path"]] = i
    parse(config, cfg, 1)

    while ((rc = (getline line < expect_files)) > 0) {
        if (line == "")
            continue
        split(line, f, "\t")
        before = problems
        check_file(f[1], f[2])
        checked++
        failed += problems > before
    }
    close(expect_files)
    while ((rc = (getline line < expect_config)) > 0) {
        if (line == "")
            continue
        tab = index(line, "\t")
        ptr = substr(line, 1, tab - 1)
        want = substr(line, tab + 1)
        if (!(ptr in cfg)) {
            problem("expect_config[" ptr "]: missing from the config, want " want)
            failed++
        } else if (cfg[ptr] != want) {
            problem("expect_config[" ptr "]: is " cfg[ptr] ", want " want)
            failed++
        }
        checked++
    }
    close(expect_config)
    if (problems) {
        print "image_test: " failed " of " checked " expectations failed"
        exit 1
    }
    print "image_test: " checked " expectations hold"
    exit 0
}
