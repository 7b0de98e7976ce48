// A program that is not Go embeds the light client through
// liblightmarket: it starts a node, asks it from several threads at once,
// receives newHeads through its callback, sets a paid demand and stops.
// TestCProgramEmbedsTheClient builds and runs it.
//
// Usage: embed CONFIG_JSON ADDRESS BLOCK CONTRACT CALLDATA
// It prints tagged lines for the test to check and exits non-zero on a
// failure.
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "liblightmarket.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int heads;
static char last_event[4096];

static void on_event(void *user, const char *event_json) {
	pthread_mutex_lock(&mu);
	if (strstr(event_json, "\"parentHash\"") != NULL) {
		heads++;
		(*(int *)user)++;
	}
	snprintf(last_event, sizeof last_event, "%s", event_json);
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&mu);
}

static uintptr_t node;
static const char *address, *block, *contract, *calldata;

static void fail(const char *what, const char *detail) {
	printf("FAIL %s: %s\n", what, detail ? detail : "(null)");
	fflush(stdout);
	exit(1);
}

// request sends one request and returns the response (free it).
static char *request(const char *fmt, const char *a, const char *b, const char *c) {
	char req[2048];
	snprintf(req, sizeof req, fmt, a, b, c);
	char *resp = lm_request(node, req);
	if (resp == NULL) {
		fail("request", req);
	}
	return resp;
}

static char *balance(void) {
	return request("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_getBalance\",\"params\":[\"%s\",\"%s\"]}%s", address, block, "");
}

static char *call(void) {
	return request("{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"eth_call\",\"params\":[{\"to\":\"%s\",\"data\":\"%s\"},\"%s\"]}", contract, calldata, block);
}

// worker asks for the balance and the call many times, from its own thread.
static void *worker(void *arg) {
	(void)arg;
	for (int i = 0; i < 25; i++) {
		char *b = balance(), *c = call();
		if (strstr(b, "\"result\"") == NULL) {
			fail("eth_getBalance from a thread", b);
		}
		if (strstr(c, "\"result\"") == NULL) {
			fail("eth_call from a thread", c);
		}
		lm_free(b);
		lm_free(c);
	}
	return NULL;
}

static double since(struct timespec *t0) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) + (t.tv_nsec - t0->tv_nsec) / 1e9;
}

int main(int argc, char **argv) {
	if (argc != 6) {
		fprintf(stderr, "usage: embed CONFIG_JSON ADDRESS BLOCK CONTRACT CALLDATA\n");
		return 2;
	}
	address = argv[2], block = argv[3], contract = argv[4], calldata = argv[5];
	setvbuf(stdout, NULL, _IOLBF, 0);

	char *err = NULL;
	if (lm_start("{not json", on_event, NULL, &err) != 0 || err == NULL) {
		fail("a bad configuration was taken", "");
	}
	printf("BADCONFIG %s\n", err);
	lm_free(err);
	err = NULL;

	int my_heads = 0;
	node = lm_start(argv[1], on_event, &my_heads, &err);
	if (node == 0) {
		fail("lm_start", err);
	}
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		char *r = request("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_blockNumber\"%s%s%s}", "", "", "");
		int ok = strstr(r, "\"result\"") != NULL;
		lm_free(r);
		if (ok) {
			break;
		}
		if (since(&t0) > 60) {
			fail("no verified head", "");
		}
		usleep(50000);
	}

	char *b = balance();
	printf("BALANCE %s\n", b);
	lm_free(b);
	char *c = call();
	printf("CALL %s\n", c);
	lm_free(c);

	char *sub = lm_subscribe(node, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"eth_subscribe\",\"params\":[\"newHeads\"]}", &err);
	if (sub == NULL) {
		fail("lm_subscribe", err);
	}
	printf("SUBSCRIBED %s\n", sub);

	pthread_t threads[4];
	for (int i = 0; i < 4; i++) {
		pthread_create(&threads[i], NULL, worker, NULL);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(threads[i], NULL);
	}
	printf("THREADS 4 x 25 balances and calls answered\n");

	pthread_mutex_lock(&mu);
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 30;
	while (heads < 2) {
		if (pthread_cond_timedwait(&cond, &mu, &deadline) != 0) {
			pthread_mutex_unlock(&mu);
			fail("fewer than 2 newHeads through the callback", last_event);
		}
	}
	printf("HEADS %d %s\n", my_heads, last_event);
	pthread_mutex_unlock(&mu);

	char *e = lm_unsubscribe(node, sub);
	if (e != NULL) {
		fail("lm_unsubscribe", e);
	}
	lm_free(sub);

	e = lm_set_demand(node, "{\"capacity\":100000,\"maxPrice\":\"20000\"}");
	if (e != NULL) {
		fail("lm_set_demand", e);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		char *st = lm_status(node, &err);
		if (st == NULL) {
			fail("lm_status", err);
		}
		int paid = strstr(st, "\"paid\":true") != NULL;
		if (paid) {
			printf("PAID %s\n", st);
		}
		lm_free(st);
		if (paid) {
			break;
		}
		if (since(&t0) > 60) {
			fail("no paid capacity after lm_set_demand", "");
		}
		usleep(100000);
	}
	if ((e = lm_app_state(node, "sideways")) == NULL) {
		fail("an unknown app state was taken", "");
	}
	lm_free(e);

	e = lm_stop(node);
	if (e != NULL) {
		fail("lm_stop", e);
	}
	if ((e = lm_stop(node)) == NULL) {
		fail("a node stopped twice", "");
	}
	lm_free(e);
	char *r = lm_request(node, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_chainId\"}");
	printf("AFTERSTOP %s\n", r);
	lm_free(r);
	printf("OK\n");
	return 0;
}
