/* The C baseline of the client benchmark: the same scenarios as bench/drivers, on rabbitmq-c.
 *
 * Build: cc -O2 -o bench/c/build/amqp-bench bench/c/amqp_bench.c -lrabbitmq
 * (Debian: apt-get install librabbitmq-dev). bench/run.py builds it when it is missing.
 *
 * Usage: amqp-bench SCENARIO [--host H] [--port P] [--queue Q] [--count N] [--size BYTES]
 *                            [--window W] [--prefetch P] [--ack-every K] [--rpc-queue R]
 * SCENARIO is publish, confirms, consume, large, rpc, memory, channels or rpc-server.
 * Each scenario prints one JSON object on stdout (rpc-server prints "ready" and then serves
 * until it is killed). Errors go to stderr with exit status 1.
 */

#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct options {
    const char *host;
    int port;
    const char *queue;
    long count;
    long size;
    long window;
    int prefetch;
    long ack_every;
    const char *rpc_queue;
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what) {
    fprintf(stderr, "amqp-bench: %s\n", what);
    exit(1);
}

static void check_reply(amqp_rpc_reply_t reply, const char *what) {
    if (reply.reply_type == AMQP_RESPONSE_NORMAL) {
        return;
    }
    if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION) {
        fprintf(stderr, "amqp-bench: %s: %s\n", what, amqp_error_string2(reply.library_error));
    } else {
        fprintf(stderr, "amqp-bench: %s: server error (method 0x%08x)\n", what,
                reply.reply.id);
    }
    exit(1);
}

static void check_rpc(amqp_connection_state_t conn, const char *what) {
    check_reply(amqp_get_rpc_reply(conn), what);
}

static void check_status(int status, const char *what) {
    if (status != AMQP_STATUS_OK) {
        fprintf(stderr, "amqp-bench: %s: %s\n", what, amqp_error_string2(status));
        exit(1);
    }
}

static amqp_connection_state_t open_connection(const struct options *opt) {
    amqp_connection_state_t conn = amqp_new_connection();
    amqp_socket_t *socket = amqp_tcp_socket_new(conn);
    if (socket == NULL) {
        die("cannot create a TCP socket");
    }
    if (amqp_socket_open(socket, opt->host, opt->port) != AMQP_STATUS_OK) {
        die("cannot connect to the broker: is RabbitMQ running on --host/--port?");
    }
    /* channel_max 0 takes the broker's limit; frame_max 131072 is the broker's default. */
    check_reply(amqp_login(conn, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest"),
                "login");
    amqp_channel_open(conn, 1);
    check_rpc(conn, "channel.open");
    return conn;
}

static void close_connection(amqp_connection_state_t conn) {
    amqp_channel_close(conn, 1, AMQP_REPLY_SUCCESS);
    amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(conn);
}

static amqp_bytes_t make_body(long size) {
    amqp_bytes_t body;
    body.len = (size_t)size;
    body.bytes = malloc((size_t)size > 0 ? (size_t)size : 1);
    if (body.bytes == NULL) {
        die("out of memory for the message body");
    }
    for (long i = 0; i < size; i++) {
        ((unsigned char *)body.bytes)[i] = (unsigned char)(i & 0xff);
    }
    return body;
}

static void publish_one(amqp_connection_state_t conn, const char *queue, amqp_bytes_t body) {
    check_status(amqp_basic_publish(conn, 1, amqp_empty_bytes, amqp_cstring_bytes(queue), 0, 0,
                                    NULL, body),
                 "basic.publish");
}

static uint32_t queue_count(amqp_connection_state_t conn, const char *queue) {
    amqp_queue_declare_ok_t *ok = amqp_queue_declare(
        conn, 1, amqp_cstring_bytes(queue), 1, 0, 0, 0, amqp_empty_table);
    check_rpc(conn, "queue.declare (passive)");
    return ok->message_count;
}

static void wait_for_count(amqp_connection_state_t conn, const char *queue, long count) {
    while ((long)queue_count(conn, queue) < count) {
        usleep(1000);
        amqp_maybe_release_buffers(conn);
    }
}

/* This process's peak resident set (VmHWM) in MiB, as the Python workers report theirs. */
static double vm_hwm_mib(void) {
    FILE *status = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    if (status == NULL) {
        return -1.0;
    }
    while (fgets(line, sizeof(line), status) != NULL) {
        if (strncmp(line, "VmHWM:", 6) == 0) {
            kib = strtol(line + 6, NULL, 10);
            break;
        }
    }
    fclose(status);
    return kib < 0 ? -1.0 : (double)kib / 1024.0;
}

static void print_elapsed(double elapsed, long count, const char *note) {
    printf("{\"elapsed_s\": %.6f, \"count\": %ld, \"note\": \"%s\", \"vm_hwm_mib\": %.2f}\n",
           elapsed, count, note, vm_hwm_mib());
}

static int run_publish(const struct options *opt) {
    amqp_connection_state_t conn = open_connection(opt);
    amqp_bytes_t body = make_body(opt->size);
    double start = now_s();
    for (long i = 0; i < opt->count; i++) {
        publish_one(conn, opt->queue, body);
    }
    wait_for_count(conn, opt->queue, opt->count);
    print_elapsed(now_s() - start, opt->count, "");
    close_connection(conn);
    return 0;
}

/* Reads one frame and applies it when it is a basic.ack; returns the new confirmed count. */
static long read_confirm(amqp_connection_state_t conn, long confirmed, struct timeval *timeout) {
    amqp_frame_t frame;
    int status = amqp_simple_wait_frame_noblock(conn, &frame, timeout);
    if (status == AMQP_STATUS_TIMEOUT) {
        return confirmed;
    }
    check_status(status, "waiting for confirms");
    if (frame.frame_type != AMQP_FRAME_METHOD) {
        return confirmed;
    }
    if (frame.payload.method.id == AMQP_BASIC_NACK_METHOD) {
        die("the broker nacked a publish");
    }
    if (frame.payload.method.id == AMQP_BASIC_ACK_METHOD) {
        amqp_basic_ack_t *ack = (amqp_basic_ack_t *)frame.payload.method.decoded;
        if (ack->multiple) {
            confirmed = (long)ack->delivery_tag;
        } else {
            confirmed += 1;
        }
    }
    return confirmed;
}

static int run_confirms(const struct options *opt) {
    amqp_connection_state_t conn = open_connection(opt);
    amqp_confirm_select(conn, 1);
    check_rpc(conn, "confirm.select");
    amqp_bytes_t body = make_body(opt->size);
    struct timeval zero = {0, 0};
    long confirmed = 0;
    double start = now_s();
    for (long sent = 0; sent < opt->count;) {
        if (sent - confirmed < opt->window) {
            publish_one(conn, opt->queue, body);
            sent++;
            /* Take acks that already arrived without blocking. */
            while (amqp_frames_enqueued(conn) || amqp_data_in_buffer(conn)) {
                confirmed = read_confirm(conn, confirmed, &zero);
            }
        } else {
            confirmed = read_confirm(conn, confirmed, NULL);
        }
        amqp_maybe_release_buffers(conn);
    }
    while (confirmed < opt->count) {
        confirmed = read_confirm(conn, confirmed, NULL);
        amqp_maybe_release_buffers(conn);
    }
    print_elapsed(now_s() - start, opt->count, "");
    close_connection(conn);
    return 0;
}

/* Consumes `count` messages with prefetch and ack(multiple) every ack_every. */
static void consume(amqp_connection_state_t conn, const struct options *opt, long count) {
    amqp_basic_qos(conn, 1, 0, (uint16_t)opt->prefetch, 0);
    check_rpc(conn, "basic.qos");
    amqp_basic_consume(conn, 1, amqp_cstring_bytes(opt->queue), amqp_empty_bytes, 0, 0, 0,
                       amqp_empty_table);
    check_rpc(conn, "basic.consume");
    long received = 0;
    uint64_t last_tag = 0;
    while (received < count) {
        amqp_envelope_t envelope;
        amqp_maybe_release_buffers(conn);
        check_reply(amqp_consume_message(conn, &envelope, NULL, 0), "consume");
        received++;
        last_tag = envelope.delivery_tag;
        if (received % opt->ack_every == 0) {
            check_status(amqp_basic_ack(conn, 1, last_tag, 1), "basic.ack");
        }
        amqp_destroy_envelope(&envelope);
    }
    if (received % opt->ack_every != 0) {
        check_status(amqp_basic_ack(conn, 1, last_tag, 1), "basic.ack");
    }
}

static int run_consume(const struct options *opt) {
    amqp_connection_state_t conn = open_connection(opt);
    double start = now_s();
    consume(conn, opt, opt->count);
    print_elapsed(now_s() - start, opt->count, "");
    close_connection(conn);
    return 0;
}

static int run_large(const struct options *opt) {
    amqp_connection_state_t conn = open_connection(opt);
    amqp_bytes_t body = make_body(opt->size);
    double start = now_s();
    for (long i = 0; i < opt->count; i++) {
        publish_one(conn, opt->queue, body);
    }
    consume(conn, opt, opt->count);
    print_elapsed(now_s() - start, opt->count, "");
    close_connection(conn);
    return 0;
}

static int run_rpc(const struct options *opt) {
    amqp_connection_state_t conn = open_connection(opt);
    amqp_bytes_t body = make_body(opt->size);
    amqp_basic_consume(conn, 1, amqp_cstring_bytes("amq.rabbitmq.reply-to"), amqp_empty_bytes,
                       0, 1, 0, amqp_empty_table);
    check_rpc(conn, "basic.consume on amq.rabbitmq.reply-to");
    long warmup = opt->count / 10;
    long total = warmup + opt->count;
    double *latencies = malloc(sizeof(double) * (size_t)opt->count);
    if (latencies == NULL) {
        die("out of memory for latencies");
    }
    char correlation[32];
    for (long i = 0; i < total; i++) {
        amqp_basic_properties_t props;
        memset(&props, 0, sizeof(props));
        props._flags = AMQP_BASIC_REPLY_TO_FLAG | AMQP_BASIC_CORRELATION_ID_FLAG;
        props.reply_to = amqp_cstring_bytes("amq.rabbitmq.reply-to");
        snprintf(correlation, sizeof(correlation), "%ld", i);
        props.correlation_id = amqp_cstring_bytes(correlation);
        double start = now_s();
        check_status(amqp_basic_publish(conn, 1, amqp_empty_bytes,
                                        amqp_cstring_bytes(opt->rpc_queue), 0, 0, &props, body),
                     "basic.publish (request)");
        amqp_envelope_t envelope;
        amqp_maybe_release_buffers(conn);
        check_reply(amqp_consume_message(conn, &envelope, NULL, 0), "reply");
        double elapsed = now_s() - start;
        amqp_bytes_t got = envelope.message.properties.correlation_id;
        if (got.len != strlen(correlation) || memcmp(got.bytes, correlation, got.len) != 0) {
            die("a reply carried the wrong correlation id");
        }
        amqp_destroy_envelope(&envelope);
        if (i >= warmup) {
            latencies[i - warmup] = elapsed * 1e6;
        }
    }
    printf("{\"count\": %ld, \"latencies_us\": [", opt->count);
    for (long i = 0; i < opt->count; i++) {
        printf(i ? ", %.2f" : "%.2f", latencies[i]);
    }
    printf("], \"note\": \"\", \"vm_hwm_mib\": %.2f}\n", vm_hwm_mib());
    free(latencies);
    close_connection(conn);
    return 0;
}

static int run_memory(const struct options *opt) {
    amqp_connection_state_t conn = open_connection(opt);
    amqp_basic_qos(conn, 1, 0, (uint16_t)opt->prefetch, 0);
    check_rpc(conn, "basic.qos");
    amqp_basic_consume(conn, 1, amqp_cstring_bytes(opt->queue), amqp_empty_bytes, 0, 0, 0,
                       amqp_empty_table);
    check_rpc(conn, "basic.consume");
    amqp_envelope_t *held = calloc((size_t)opt->count, sizeof(amqp_envelope_t));
    if (held == NULL) {
        die("out of memory for envelopes");
    }
    double start = now_s();
    for (long i = 0; i < opt->count; i++) {
        amqp_maybe_release_buffers(conn);
        check_reply(amqp_consume_message(conn, &held[i], NULL, 0), "consume");
    }
    double elapsed = now_s() - start;
    check_status(amqp_basic_ack(conn, 1, held[opt->count - 1].delivery_tag, 1), "basic.ack");
    for (long i = 0; i < opt->count; i++) {
        amqp_destroy_envelope(&held[i]);
    }
    free(held);
    print_elapsed(elapsed, opt->count, "");
    close_connection(conn);
    return 0;
}

static int run_channels(const struct options *opt) {
    amqp_connection_state_t conn = open_connection(opt);
    double start = now_s();
    /* Channel 1 is open already; open `count` more. */
    for (long i = 0; i < opt->count; i++) {
        amqp_channel_open(conn, (amqp_channel_t)(i + 2));
        check_rpc(conn, "channel.open");
        amqp_maybe_release_buffers(conn);
    }
    print_elapsed(now_s() - start, opt->count, "");
    amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(conn);
    return 0;
}

static int run_rpc_server(const struct options *opt) {
    amqp_connection_state_t conn = open_connection(opt);
    amqp_queue_declare(conn, 1, amqp_cstring_bytes(opt->rpc_queue), 0, 0, 1, 1,
                       amqp_empty_table);
    check_rpc(conn, "queue.declare (rpc queue)");
    amqp_basic_consume(conn, 1, amqp_cstring_bytes(opt->rpc_queue), amqp_empty_bytes, 0, 1, 0,
                       amqp_empty_table);
    check_rpc(conn, "basic.consume (rpc queue)");
    printf("ready\n");
    fflush(stdout);
    for (;;) {
        amqp_envelope_t envelope;
        amqp_maybe_release_buffers(conn);
        check_reply(amqp_consume_message(conn, &envelope, NULL, 0), "request");
        amqp_basic_properties_t props;
        memset(&props, 0, sizeof(props));
        props._flags = AMQP_BASIC_CORRELATION_ID_FLAG;
        props.correlation_id = envelope.message.properties.correlation_id;
        check_status(amqp_basic_publish(conn, 1, amqp_empty_bytes,
                                        envelope.message.properties.reply_to, 0, 0, &props,
                                        envelope.message.body),
                     "basic.publish (reply)");
        amqp_destroy_envelope(&envelope);
    }
    return 0;
}

static long parse_long(const char *text, const char *name) {
    char *end = NULL;
    long value = strtol(text, &end, 10);
    if (end == text || *end != '\0' || value < 0) {
        fprintf(stderr, "amqp-bench: %s needs a non-negative integer, got %s\n", name, text);
        exit(2);
    }
    return value;
}

int main(int argc, char **argv) {
    struct options opt = {"127.0.0.1", 5672, "", 1000, 64, 1000, 1000, 100, ""};
    if (argc < 2) {
        fprintf(stderr, "usage: amqp-bench SCENARIO [--host H] [--port P] [--queue Q] "
                        "[--count N] [--size B] [--window W] [--prefetch P] [--ack-every K] "
                        "[--rpc-queue R]\n");
        return 2;
    }
    for (int i = 2; i + 1 < argc; i += 2) {
        const char *name = argv[i];
        const char *value = argv[i + 1];
        if (strcmp(name, "--host") == 0) {
            opt.host = value;
        } else if (strcmp(name, "--port") == 0) {
            opt.port = (int)parse_long(value, name);
        } else if (strcmp(name, "--queue") == 0) {
            opt.queue = value;
        } else if (strcmp(name, "--count") == 0) {
            opt.count = parse_long(value, name);
        } else if (strcmp(name, "--size") == 0) {
            opt.size = parse_long(value, name);
        } else if (strcmp(name, "--window") == 0) {
            opt.window = parse_long(value, name);
        } else if (strcmp(name, "--prefetch") == 0) {
            opt.prefetch = (int)parse_long(value, name);
        } else if (strcmp(name, "--ack-every") == 0) {
            opt.ack_every = parse_long(value, name);
        } else if (strcmp(name, "--rpc-queue") == 0) {
            opt.rpc_queue = value;
        } else {
            fprintf(stderr, "amqp-bench: unknown option %s\n", name);
            return 2;
        }
    }
    if (opt.ack_every < 1 || opt.window < 1 || opt.count < 1) {
        die("--count, --window and --ack-every must be at least 1");
    }
    const char *scenario = argv[1];
    if (strcmp(scenario, "publish") == 0) return run_publish(&opt);
    if (strcmp(scenario, "confirms") == 0) return run_confirms(&opt);
    if (strcmp(scenario, "consume") == 0) return run_consume(&opt);
    if (strcmp(scenario, "large") == 0) return run_large(&opt);
    if (strcmp(scenario, "rpc") == 0) return run_rpc(&opt);
    if (strcmp(scenario, "memory") == 0) return run_memory(&opt);
    if (strcmp(scenario, "channels") == 0) return run_channels(&opt);
    if (strcmp(scenario, "rpc-server") == 0) return run_rpc_server(&opt);
    fprintf(stderr, "amqp-bench: unknown scenario %s\n", scenario);
    return 2;
}
