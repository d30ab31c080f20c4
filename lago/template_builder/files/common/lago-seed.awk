# lago-seed.awk: read a cloud-init NoCloud seed (meta-data, user-data) and print
# what Lago's templates apply, one record a line, fields separated by a TAB:
#   instance-id<TAB>ID          hostname<TAB>NAME       fqdn<TAB>NAME
#   key<TAB>SSH PUBLIC KEY      password<TAB>USER<TAB>PLAIN TEXT PASSWORD
#
# The subset honoured (block-style YAML only, no anchors, no flow lists):
#   meta-data:  top-level "instance-id: X" and "local-hostname: X".
#   user-data:  only if its first line is "#cloud-config"; top-level keys
#     hostname: X                  (wins over local-hostname)
#     fqdn: X                      (the name /etc/hosts gives this host)
#     password: X                  (root's password, plain text)
#     ssh_authorized_keys:         followed by "  - KEY" items (root's keys)
#     chpasswd:                    with, indented below it, either
#       list: |                    a block of "user:password" lines,
#       list:                      or "  - user:password" items,
#       users:                     or "  - name: U" / "    password: P" items
#                                  (type: text only; hashed/RANDOM ignored).
#   Everything else is ignored. Values may be quoted with ' or ".
# POSIX awk: runs with busybox awk, mawk and gawk.

function trim(s) {
    sub(/^[ \t]+/, "", s)
    sub(/[ \t\r]+$/, "", s)
    return s
}

function unquote(s,    first, last) {
    s = trim(s)
    if (length(s) >= 2) {
        first = substr(s, 1, 1)
        last = substr(s, length(s), 1)
        if ((first == "\"" || first == "'") && first == last)
            return substr(s, 2, length(s) - 2)
    }
    # an unquoted value may carry a trailing " # comment"
    sub(/[ \t]+#.*$/, "", s)
    return s
}

function indent_of(s) {
    match(s, /^ */)
    return RLENGTH
}

function key_of(s,    i) {
    i = index(s, ":")
    if (i == 0) return ""
    return unquote(substr(s, 1, i - 1))
}

function value_of(s,    i) {
    i = index(s, ":")
    if (i == 0) return ""
    return trim(substr(s, i + 1))
}

function emit_pair(pair,    i, user, pw) {
    i = index(pair, ":")
    if (i < 2) return
    user = substr(pair, 1, i - 1)
    pw = substr(pair, i + 1)
    if (pw == "" || toupper(pw) == "R" || toupper(pw) == "RANDOM") return
    print "password\t" user "\t" pw
}

function flush_user() {
    if (cur_user != "" && cur_pw != "" && (cur_type == "" || cur_type == "text"))
        print "password\t" cur_user "\t" cur_pw
    cur_user = ""; cur_pw = ""; cur_type = ""
}

function user_field(s,    k, v) {
    k = key_of(s)
    v = unquote(value_of(s))
    if (k == "name") cur_user = v
    else if (k == "password") cur_pw = v
    else if (k == "type") cur_type = v
}

FNR == 1 {
    flush_user()
    base = FILENAME
    sub(/.*\//, "", base)
    section = ""; mode = ""; mode_indent = 0
    if (base == "meta-data") kind = "meta"
    else if (base == "user-data") kind = "user"
    else kind = "other"
    if (kind == "user") {
        first = $0
        sub(/[ \t\r]+$/, "", first)
        if (first != "#cloud-config") kind = "other"
        next
    }
}

kind == "other" { next }

{
    line = $0
    sub(/\r$/, "", line)
    ind = indent_of(line)
    body = trim(line)

    # lines of a "list: |" block are taken verbatim (only blank ones skipped)
    if (mode == "block") {
        if (body == "") next
        if (ind > mode_indent) { emit_pair(body); next }
        mode = ""
    }
    if (body == "" || substr(body, 1, 1) == "#") next

    if (ind == 0) {
        flush_user()
        section = ""; mode = ""
        k = key_of(body)
        v = unquote(value_of(body))
        if (kind == "meta") {
            if (k == "instance-id" && v != "") print "instance-id\t" v
            else if (k == "local-hostname" && v != "") print "hostname\t" v
            next
        }
        if (k == "hostname" && v != "") hostname = v
        else if (k == "fqdn" && v != "") fqdn = v
        else if (k == "password" && v != "") print "password\troot\t" v
        else if (k == "ssh_authorized_keys") section = "keys"
        else if (k == "chpasswd") section = "chpasswd"
        next
    }

    if (section == "keys") {
        if (substr(body, 1, 2) == "- ") {
            v = unquote(substr(body, 3))
            if (v != "") print "key\t" v
        }
        next
    }

    if (section != "chpasswd") next

    if (mode != "" && ind <= mode_indent && substr(body, 1, 2) != "- ") {
        flush_user()
        mode = ""
    }
    if (mode == "") {
        k = key_of(body)
        v = value_of(body)
        if (k == "list") {
            mode_indent = ind
            if (v ~ /^[|>][-+]?$/) mode = "block"
            else if (v == "") mode = "seq"
            else emit_pair(unquote(v))
        } else if (k == "users") {
            mode_indent = ind
            mode = "users"
        }
        next
    }
    if (mode == "seq") {
        if (substr(body, 1, 2) == "- ") emit_pair(unquote(substr(body, 3)))
        next
    }
    if (mode == "users") {
        if (substr(body, 1, 2) == "- ") {
            flush_user()
            user_field(substr(body, 3))
        } else {
            user_field(body)
        }
        next
    }
}

END {
    flush_user()
    if (hostname != "") print "hostname\t" hostname
    if (fqdn != "") print "fqdn\t" fqdn
}
