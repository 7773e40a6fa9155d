/* predict_service.c — a long-running prediction service: load a fitted model
 * once, then answer requests, one sf_pipeline_predict_as call per request.
 *
 *   cc predict_service.c $(pkg-config --cflags --libs streamfit) -o predict_service
 *   ./classify train.h5:/ test.h5:/ pred.h5 model.h5      # or: streamfit fit … --model model.h5
 *   printf '0.1,2,-1.5,…\n' | ./predict_service model.h5 [--proba]
 *
 * A request is one line of numbers (the model's features in its order,
 * separated by commas, spaces or tabs); the answer is one line: the prediction,
 * or with --proba the class probabilities, comma-separated. Each answer is
 * flushed at once, so a client can talk to the service over a pipe or socket. A
 * malformed request gets an "error: …" line and the service goes on.
 *
 * Threads: a loaded (or fitted) pipeline is immutable, so any number of threads
 * may call sf_pipeline_predict_as on the same sf_pipeline at once — a threaded
 * server loads the model once and shares the pointer among its workers, each
 * with its own row and output buffers. Only sf_pipeline_free must wait for all.
 */
#define _POSIX_C_SOURCE 200809L /* getline */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <streamfit/streamfit.h>

/* Parses the numbers of line into row (at most cap); returns how many there
 * were, or -1 (and the bad text in *bad) when a field is not a number. */
static long parse_row(char *line, double *row, size_t cap, char **bad)
{
    long n = 0;
    for (char *tok = strtok(line, ", \t\r\n"); tok; tok = strtok(NULL, ", \t\r\n")) {
        double v;
        if (sf_parse_double(tok, strlen(tok), &v) == SF_NUM_NONE) { /* locale-independent */
            *bad = tok;
            return -1;
        }
        if ((size_t)n < cap) row[n] = v;
        n++;
    }
    return n;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3 || (argc == 3 && strcmp(argv[2], "--proba") != 0)) {
        fprintf(stderr, "usage: %s MODEL.h5 [--proba] < requests\n", argv[0]);
        return 1;
    }
    sf_error err;
    sf_pipeline *pl = NULL;
    if (sf_pipeline_load(&pl, argv[1], &err) != SF_OK) {
        char msg[1024];
        sf_error_format(&err, msg, sizeof msg);
        fprintf(stderr, "%s\n", msg);
        return err.status == SF_ERR_IO ? 2 : 1;
    }
    sf_output what = argc == 3 ? SF_OUTPUT_PROBA : SF_OUTPUT_PREDICT;
    size_t p = sf_pipeline_n_features(pl), k = sf_pipeline_n_outputs_as(pl, what);
    if (k == 0) {
        fprintf(stderr, "%s: this model gives no %s\n", argv[1],
                what == SF_OUTPUT_PROBA ? "probabilities" : "output");
        sf_pipeline_free(pl);
        return 1;
    }
    fprintf(stderr, "%s: %s; send rows of %zu numbers (", argv[1], sf_pipeline_spec(pl), p);
    for (size_t j = 0; j < p; j++) fprintf(stderr, "%s%s", j ? "," : "", sf_pipeline_feature_name(pl, j));
    fprintf(stderr, ")\n");

    double *row = malloc(p * sizeof *row), *out = malloc(k * sizeof *out);
    char *line = NULL;
    size_t line_cap = 0;
    int rc = 0;
    if (!row || !out) {
        fprintf(stderr, "out of memory\n");
        rc = 1;
    }
    while (rc == 0 && getline(&line, &line_cap, stdin) != -1) {
        char *bad = NULL;
        long n = parse_row(line, row, p, &bad);
        if (n == 0) continue; /* a blank line */
        if (n < 0) printf("error: \"%s\" is not a number\n", bad);
        else if ((size_t)n != p) printf("error: expected %zu numbers, got %ld\n", p, n);
        else if (sf_pipeline_predict_as(pl, what, row, 1, p, p, out, k, &err) != SF_OK)
            printf("error: %s\n", err.message);
        else {
            /* shortest text that reads back as the same double */
            for (size_t j = 0; j < k; j++) {
                char num[32];
                sf_format_double(out[j], num, sizeof num);
                printf("%s%s", j ? "," : "", num);
            }
            printf("\n");
        }
        if (fflush(stdout) != 0) rc = 2; /* the client went away */
    }
    free(line);
    free(row);
    free(out);
    sf_pipeline_free(pl);
    return rc;
}
