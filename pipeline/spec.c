/* spec.c — parser for pipeline specs: stage ('|' stage)*, stage = name
 * ['(' [key '=' value (',' key '=' value)*] ')'], value = true|false|True|False|
 * null|None|number|'str'|"str"|bare-word|'[' [value (',' value)*] ']'. */
#define _GNU_SOURCE
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/spec.h"
#include "streamfit/sf_number.h"

typedef struct parser {
    const char *s;
    size_t pos;
    sf_error *err;
} parser;

sf_status sfi_spec_fail(sf_error *err, size_t column, const char *fmt, ...)
{
    if (!err) return SF_ERR_ARG;
    sf_where w;
    sfi_where_init(&w, "<pipeline>");
    w.column = column;
    sfi_fail(err, SF_ERR_ARG, &w, "%s", "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return SF_ERR_ARG;
}

static void skip_space(parser *p)
{
    while (p->s[p->pos] && isspace((unsigned char)p->s[p->pos])) p->pos++;
}

static bool is_word_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '.' || c == '-' || c == '+';
}

/* A bare word: letters, digits, '_', '.', '-', '+'. */
static size_t word_len(const parser *p)
{
    size_t n = 0;
    while (is_word_char(p->s[p->pos + n])) n++;
    return n;
}

static bool word_is(const char *s, size_t n, const char *w)
{
    return strlen(w) == n && memcmp(s, w, n) == 0;
}

static sf_status parse_value(parser *p, sfi_value *v, int depth)
{
    memset(v, 0, sizeof *v);
    skip_space(p);
    v->column = p->pos + 1;
    char c = p->s[p->pos];
    if (depth > 8) return sfi_spec_fail(p->err, v->column, "lists nested too deeply");
    if (c == '[') {
        p->pos++;
        v->type = SFI_V_LIST;
        skip_space(p);
        if (p->s[p->pos] == ']') {
            p->pos++;
            return SF_OK;
        }
        for (;;) {
            sfi_value *items = realloc(v->items, (v->n_items + 1) * sizeof *items);
            if (!items) return sfi_nomem(p->err);
            v->items = items;
            sf_status st = parse_value(p, &v->items[v->n_items], depth + 1);
            if (st != SF_OK) return st;
            v->n_items++;
            skip_space(p);
            if (p->s[p->pos] == ',') {
                p->pos++;
                continue;
            }
            if (p->s[p->pos] == ']') {
                p->pos++;
                return SF_OK;
            }
            return sfi_spec_fail(p->err, p->pos + 1, "expected ',' or ']' in a list");
        }
    }
    if (c == '\'' || c == '"') {
        const char *end = strchr(p->s + p->pos + 1, c);
        if (!end) return sfi_spec_fail(p->err, v->column, "unterminated string");
        v->type = SFI_V_STRING;
        v->str = strndup(p->s + p->pos + 1, (size_t)(end - p->s - p->pos - 1));
        if (!v->str) return sfi_nomem(p->err);
        p->pos = (size_t)(end - p->s) + 1;
        return SF_OK;
    }
    size_t n = word_len(p);
    if (n == 0) return sfi_spec_fail(p->err, v->column, "expected a value");
    const char *w = p->s + p->pos;
    p->pos += n;
    if (word_is(w, n, "true") || word_is(w, n, "True")) {
        v->type = SFI_V_BOOL;
        v->b = true;
    } else if (word_is(w, n, "false") || word_is(w, n, "False")) {
        v->type = SFI_V_BOOL;
    } else if (word_is(w, n, "null") || word_is(w, n, "None")) {
        v->type = SFI_V_NULL;
    } else {
        sf_numkind k = sf_parse_double(w, n, &v->num);
        if (k != SF_NUM_NONE) {
            v->type = SFI_V_NUMBER;
            v->is_int = k == SF_NUM_INT;
        } else {
            v->type = SFI_V_STRING;
            v->str = strndup(w, n);
            if (!v->str) return sfi_nomem(p->err);
        }
    }
    return SF_OK;
}

static sf_status parse_stage(parser *p, sfi_spec_stage *st)
{
    skip_space(p);
    st->column = p->pos + 1;
    size_t n = 0;
    while (isalnum((unsigned char)p->s[p->pos + n]) || p->s[p->pos + n] == '_') n++;
    if (n == 0)
        return sfi_spec_fail(p->err, st->column, p->s[p->pos] ? "expected a stage name" :
                                                                "expected a stage name after '|'");
    st->kind = strndup(p->s + p->pos, n);
    if (!st->kind) return sfi_nomem(p->err);
    p->pos += n;
    skip_space(p);
    if (p->s[p->pos] != '(') return SF_OK;
    p->pos++;
    skip_space(p);
    if (p->s[p->pos] == ')') {
        p->pos++;
        return SF_OK;
    }
    for (;;) {
        skip_space(p);
        size_t col = p->pos + 1, k = 0;
        while (isalnum((unsigned char)p->s[p->pos + k]) || p->s[p->pos + k] == '_') k++;
        if (k == 0) return sfi_spec_fail(p->err, col, "expected a parameter name");
        sfi_param *params = realloc(st->params, (st->n_params + 1) * sizeof *params);
        if (!params) return sfi_nomem(p->err);
        st->params = params;
        sfi_param *prm = &st->params[st->n_params];
        memset(prm, 0, sizeof *prm);
        prm->key = strndup(p->s + p->pos, k);
        if (!prm->key) return sfi_nomem(p->err);
        prm->column = col;
        st->n_params++;
        for (size_t i = 0; i + 1 < st->n_params; i++)
            if (strcmp(st->params[i].key, prm->key) == 0)
                return sfi_spec_fail(p->err, col, "parameter %s given twice", prm->key);
        p->pos += k;
        skip_space(p);
        if (p->s[p->pos] != '=')
            return sfi_spec_fail(p->err, p->pos + 1, "expected '=' after %s", prm->key);
        p->pos++;
        sf_status s = parse_value(p, &prm->value, 0);
        if (s != SF_OK) return s;
        skip_space(p);
        if (p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->s[p->pos] == ')') {
            p->pos++;
            return SF_OK;
        }
        return sfi_spec_fail(p->err, p->pos + 1, p->s[p->pos] ? "expected ',' or ')'" :
                                                                "unclosed '(': expected ')'");
    }
}

sf_status sfi_spec_parse(const char *text, sfi_spec *out, sf_error *err)
{
    memset(out, 0, sizeof *out);
    if (!text) return sfi_spec_fail(err, 0, "no pipeline given");
    parser p = {text, 0, err};
    for (;;) {
        sfi_spec_stage *stages = realloc(out->stages, (out->n_stages + 1) * sizeof *stages);
        if (!stages) {
            sfi_spec_free(out);
            return sfi_nomem(err);
        }
        out->stages = stages;
        memset(&out->stages[out->n_stages], 0, sizeof *stages);
        out->n_stages++;
        sf_status st = parse_stage(&p, &out->stages[out->n_stages - 1]);
        if (st != SF_OK) {
            sfi_spec_free(out);
            return st;
        }
        skip_space(&p);
        if (text[p.pos] == '|') {
            p.pos++;
            continue;
        }
        if (text[p.pos] == '\0') return SF_OK;
        sfi_spec_free(out);
        return sfi_spec_fail(err, p.pos + 1, "expected '|' or the end of the pipeline");
    }
}

void sfi_value_free(sfi_value *v)
{
    free(v->str);
    for (size_t i = 0; i < v->n_items; i++) sfi_value_free(&v->items[i]);
    free(v->items);
    memset(v, 0, sizeof *v);
}

void sfi_spec_free(sfi_spec *s)
{
    for (size_t i = 0; i < s->n_stages; i++) {
        sfi_spec_stage *st = &s->stages[i];
        for (size_t k = 0; k < st->n_params; k++) {
            free(st->params[k].key);
            sfi_value_free(&st->params[k].value);
        }
        free(st->params);
        free(st->kind);
    }
    free(s->stages);
    memset(s, 0, sizeof *s);
}

static const char *type_name(sfi_value_type t)
{
    static const char *const names[] = {"null", "a boolean", "a number", "a string", "a list"};
    return names[t];
}

sf_status sfi_param_bool(const sfi_param *p, bool *out, sf_error *err)
{
    if (p->value.type != SFI_V_BOOL)
        return sfi_spec_fail(err, p->value.column, "%s must be true or false, got %s", p->key,
                             type_name(p->value.type));
    *out = p->value.b;
    return SF_OK;
}

sf_status sfi_param_number(const sfi_param *p, double *out, sf_error *err)
{
    if (p->value.type != SFI_V_NUMBER)
        return sfi_spec_fail(err, p->value.column, "%s must be a number, got %s", p->key,
                             type_name(p->value.type));
    *out = p->value.num;
    return SF_OK;
}
