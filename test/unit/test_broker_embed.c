/* Unit tests for the embeddable broker (kafka/broker.h): start on port 0
 * in a thread, speak ApiVersions over a raw socket (v0, v3 and an
 * unsupported v9), survive garbage, stop. */
#include "test/unit/check.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "kafka/broker.h"
#include "kafka/broker_codec.h"
#include "lib/log.h"
#include "test/unit/broker_test_util.h"

static int dial(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {0};
    address.sin_family = AF_INET;
    address.sin_port = htons((uint16_t)port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval timeout = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    if (connect(fd, (struct sockaddr *)&address, sizeof address) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int send_all(int fd, const void *data, size_t len)
{
    return send(fd, data, len, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

/* Sends one framed request; reads one response frame into *response. */
static int round_trip(int fd, struct broker_writer *request, struct broker_writer *response)
{
    uint8_t size[4];
    broker_store_i32(size, (int32_t)request->len);
    if (send_all(fd, size, 4) < 0 || send_all(fd, request->data, request->len) < 0)
        return -1;
    if (recv(fd, size, 4, MSG_WAITALL) != 4)
        return -1;
    int32_t len = broker_load_i32(size);
    uint8_t *body = broker_writer_reserve(response, (size_t)len);
    if (!body || recv(fd, body, (size_t)len, MSG_WAITALL) != len)
        return -1;
    response->len += (size_t)len;
    return 0;
}

static void api_versions_request(struct broker_writer *w, int16_t version)
{
    broker_write_i16(w, 18);
    broker_write_i16(w, version);
    broker_write_i32(w, 99);
    broker_write_cstring(w, "unit");
    if (version >= 3) {
        broker_write_uvarint(w, 0);
        broker_write_compact_string(w, "tickpipe-test");
        broker_write_compact_string(w, "1.0");
        broker_write_uvarint(w, 0);
    }
}

static void test_embedded_broker_speaks_api_versions(void)
{
    log_set_level(LOG_WARN);
    char *dir = test_temp_dir();
    struct broker_config config;
    broker_config_defaults(&config);
    config.listen = "127.0.0.1:0";
    config.data_dir = dir;
    tp_err err;
    struct broker *broker = broker_open(&config, &err);
    CHECK(broker != NULL);
    if (!broker)
        return;
    CHECK(broker_port(broker) > 0);
    CHECK_INT(broker_start(broker, &err), 0);

    int fd = dial(broker_port(broker));
    CHECK(fd >= 0);
    struct broker_writer request = {0}, response = {0};
    api_versions_request(&request, 0);
    CHECK_INT(round_trip(fd, &request, &response), 0);
    struct broker_reader r;
    broker_reader_init(&r, response.data, response.len);
    CHECK_INT(broker_read_i32(&r), 99);
    CHECK_INT(broker_read_i16(&r), 0);
    int32_t count = broker_read_i32(&r);
    CHECK(count >= 17);

    request.len = response.len = 0;
    api_versions_request(&request, 3);
    CHECK_INT(round_trip(fd, &request, &response), 0);
    broker_reader_init(&r, response.data, response.len);
    CHECK_INT(broker_read_i32(&r), 99); /* response header v0: no tags */
    CHECK_INT(broker_read_i16(&r), 0);
    CHECK_INT(broker_read_uvarint(&r), (uint64_t)count + 1);

    /* A version above ours: v0 body, error 35, our ApiVersions range. */
    request.len = response.len = 0;
    api_versions_request(&request, 9);
    broker_write_uvarint(&request, 0);
    CHECK_INT(round_trip(fd, &request, &response), 0);
    static const uint8_t want[] = {0, 0, 0, 99, 0, 35, 0, 0, 0, 1, 0, 18, 0, 0, 0, 3};
    CHECK_INT(response.len, sizeof want);
    CHECK(response.len == sizeof want && memcmp(response.data, want, sizeof want) == 0);
    close(fd);

    /* Garbage and a huge length prefix close only that connection. */
    fd = dial(broker_port(broker));
    CHECK(send_all(fd, "\x7f\xff\xff\xff garbage", 12) == 0);
    char byte;
    CHECK(recv(fd, &byte, 1, 0) == 0); /* closed by the broker */
    close(fd);
    fd = dial(broker_port(broker));
    request.len = response.len = 0;
    api_versions_request(&request, 1);
    CHECK_INT(round_trip(fd, &request, &response), 0);
    close(fd);

    broker_close(broker);
    broker_writer_free(&request);
    broker_writer_free(&response);
    test_remove_dir(dir);
    free(dir);
}

int main(void)
{
    RUN(test_embedded_broker_speaks_api_versions);
    CHECK_EXIT();
}
