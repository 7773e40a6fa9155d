/* test_stream_predict.c — `streamfit predict - --model M.h5` is a streaming job
 * (issue 3, item 7): it answers each row as soon as the row is complete.
 *
 * The test fits a scaler on a few rows (memory source), saves the model, starts
 * the CLI with pipes on its standard input and output, then, row by row, writes
 * ONE complete CSV row and waits (poll, ROW_TIMEOUT_MS) for that row's output
 * line before it writes the next; the pipe stays open throughout, so a program
 * that waits for a full chunk or for end of input, or that keeps its output in a
 * stdio buffer, times out here instead of blocking CI. Each answer must be the
 * serial sf_pipeline_transform of that row, bitwise (the CSV sink prints shortest
 * round-trip numbers); a header line before the first answer is allowed. Rows 3
 * and 5 are malformed ("x" in a numeric column; too few fields): each must get
 * its empty line ",," at once (Decision 14) and the stream goes on. At the
 * end standard input is closed and the CLI must exit 0 within the timeout; on any
 * failure it is killed.
 */
#define _GNU_SOURCE
#include "sf_test.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef ROW_TIMEOUT_MS
#define ROW_TIMEOUT_MS 10000 /* generous: CI may run this under ASan on a busy machine */
#endif

enum { P = 3, ROWS = 6 };

static pid_t child = -1;
static char model[64];

static void cleanup(void)
{
    if (child > 0) {
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        child = -1;
    }
    if (model[0]) unlink(model);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Reads from fd into buf (appending at *len) until it holds `lines` newlines or the
 * deadline passes. Returns true when the lines arrived. */
static bool read_lines(int fd, char *buf, size_t cap, size_t *len, size_t lines, double deadline)
{
    for (;;) {
        size_t have = 0;
        for (size_t i = 0; i < *len; i++) have += buf[i] == '\n';
        if (have >= lines) return true;
        double left = deadline - now_ms();
        if (left <= 0) return false;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int r = poll(&pfd, 1, (int)left);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
        ssize_t got = read(fd, buf + *len, cap - 1 - *len);
        if (got <= 0) return false; /* closed: the CLI exited */
        *len += (size_t)got;
        buf[*len] = '\0';
    }
}

static void write_all(int fd, const char *s)
{
    size_t n = strlen(s);
    while (n) {
        ssize_t k = write(fd, s, n);
        if (k < 0 && errno == EINTR) continue;
        assert_true(k > 0);
        s += k;
        n -= (size_t)k;
    }
}

static sf_pipeline *make_model(const double *x, size_t n)
{
    sf_source *src = NULL;
    sf_pipeline *pl = NULL;
    sf_error err;
    static const char *const names[] = {"a", "b", "c"};
    assert_int_equal(sf_source_from_memory(&src, x, n, P, P, NULL, NULL, names, NULL, &err), SF_OK);
    assert_int_equal(sf_pipeline_new(&pl, "scaler", &err), SF_OK);
    assert_int_equal(sf_pipeline_fit(pl, src, NULL, &err), SF_OK);
    sf_source_close(src);
    snprintf(model, sizeof model, "/tmp/sf_stream_XXXXXX");
    int fd = mkstemp(model);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(sf_pipeline_save(pl, model, &err), SF_OK);
    return pl;
}

/* Starts `streamfit predict - --model M` with pipes; *to_child, *from_child. */
static void start_cli(int *to_child, int *from_child)
{
    int in[2], out[2];
    assert_int_equal(pipe(in), 0);
    assert_int_equal(pipe(out), 0);
    child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        dup2(in[0], STDIN_FILENO);
        dup2(out[1], STDOUT_FILENO);
        close(in[0]);
        close(in[1]);
        close(out[0]);
        close(out[1]);
        execl(SF_CLI_PATH, SF_CLI_PATH, "predict", "-", "--model", model, "--quiet", (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    *to_child = in[1];
    *from_child = out[0];
}

static void test_streaming_predict(void **state)
{
    (void)state;
    double x[8 * P];
    for (size_t i = 0; i < 8 * P; i++) x[i] = (double)((i * 7) % 11) * 0.25 - 1 + (double)(i % P);
    sf_pipeline *pl = make_model(x, 8);
    int to, from;
    start_cli(&to, &from);
    char out[8192];
    size_t len = 0;
    write_all(to, "a,b,c\n");
    for (size_t r = 0; r < ROWS; r++) {
        double row[P] = {0.5 * (double)r, -1.0 - (double)r, 3.0 + 0.125 * (double)r}, want[P];
        char line[256];
        size_t k = 0;
        for (size_t j = 0; j < P; j++) {
            k += sf_format_double(row[j], line + k, sizeof line - k);
            line[k++] = j + 1 < P ? ',' : '\n';
        }
        line[k] = '\0';
        /* malformed rows: the model's types are enforced, so "x" is not a category */
        bool bad = r == 2 || r == 4;
        if (r == 2) snprintf(line, sizeof line, "x,1,2\n");
        if (r == 4) snprintf(line, sizeof line, "1,2\n");
        write_all(to, line);
        /* an optional header line (a first line whose first field is not a number),
         * then one line per row written so far */
        double deadline = now_ms() + ROW_TIMEOUT_MS;
        bool got = read_lines(from, out, sizeof out, &len, 1, deadline);
        double first;
        size_t header = got && sf_parse_double(out, strcspn(out, ",\n"), &first) == SF_NUM_NONE;
        if (!got || !read_lines(from, out, sizeof out, &len, r + 1 + header, deadline)) {
            print_error("no answer to row %zu within %d ms while standard input stays open: "
                        "predict - does not stream (output so far: \"%s\")\n",
                        r + 1, ROW_TIMEOUT_MS, out);
            cleanup();
            sf_pipeline_free(pl);
            fail();
        }
        /* the answer to row r */
        const char *p = out;
        for (size_t skip = 0; skip < r + header; skip++) p = strchr(p, '\n') + 1;
        if (bad) {
            assert_memory_equal(p, ",,\n", 3);
            continue;
        }
        sf_error err;
        assert_int_equal(sf_pipeline_transform(pl, row, 1, P, P, want, P, &err), SF_OK);
        for (size_t j = 0; j < P; j++) {
            size_t n = strcspn(p, ",\n");
            double v;
            assert_int_equal(sf_parse_double(p, n, &v), SF_NUM_FLOAT);
            assert_double_bits(v, want[j]);
            p += n + 1;
        }
    }
    close(to);
    int status = 0;
    double deadline = now_ms() + ROW_TIMEOUT_MS;
    pid_t done = 0;
    while ((done = waitpid(child, &status, WNOHANG)) == 0 && now_ms() < deadline) usleep(10000);
    if (done == child) child = -1;
    close(from);
    cleanup();
    sf_pipeline_free(pl);
    assert_true(done > 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* a CLI that died must fail the test, not kill it */
    sf_library_init();
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_streaming_predict)};
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    cleanup();
    return rc;
}
