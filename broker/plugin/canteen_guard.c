/*
 * canteen_guard: a Mosquitto 2.0 plugin (plugin API version 5) that makes a device's
 * attempt to publish under another device's topics visible to the hub.
 *
 * A device logs in as canteen-SITE-DEVICE (canteen/provision/registry.py) and may write
 * only under ROOT/SITE/DEVICE/. The ACL file already refuses anything else, but
 * Mosquitto 2.0 logs that refusal only at debug level, far too costly on a busy hub. So,
 * for a device login writing outside its own topics, this plugin refuses the publish
 * itself (the client gets PUBACK 0x87 as before), logs a warning and publishes a small
 * JSON notice to ROOT/$hub/denied, which the hub reads and no device may (broker/README.md).
 * Everything else, including a device's own topics, is deferred to the ACL file.
 *
 * Options (mosquitto.conf): plugin_opt_root (default "canteen"), the topic root.
 */
#define _POSIX_C_SOURCE 200809L /* gmtime_r */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

#define DEVICE_PREFIX "canteen-"
#define NOTICES_PER_SECOND 20 /* a flooding device must not flood the hub too */
#define TOPIC_SHOWN 256        /* bytes of the refused topic copied into a notice */

static mosquitto_plugin_id_t *plugin_id;
static char root[64] = "canteen";
static char notice_topic[96];
static time_t window;      /* the second the notice budget counts in */
static int sent_in_window; /* notices sent in that second */
static unsigned long held; /* notices not sent for the budget, reported in the next one */

/* Whether `topic` is ROOT/SITE/DEVICE/... with "canteen-SITE-DEVICE" equal to `user`. */
static int own_topic(const char *user, const char *topic)
{
	size_t root_len = strlen(root);
	if (strncmp(topic, root, root_len) != 0 || topic[root_len] != '/') return 0;
	const char *site = topic + root_len + 1;
	const char *slash = strchr(site, '/');
	if (slash == NULL) return 0;
	const char *device = slash + 1;
	const char *end = strchr(device, '/');
	if (end == NULL) return 0; /* ROOT/SITE/DEVICE itself is no device topic */
	size_t site_len = (size_t)(slash - site), device_len = (size_t)(end - device);
	const char *rest = user + strlen(DEVICE_PREFIX); /* the caller checked the prefix */
	return strlen(rest) == site_len + 1 + device_len && memcmp(rest, site, site_len) == 0
		&& rest[site_len] == '-' && memcmp(rest + site_len + 1, device, device_len) == 0;
}

/* Append `text` to out[*at..size) as a JSON string body, cut after `limit` bytes of input
 * (never inside a UTF-8 character). Client ids and topics come from the client. */
static void put_json(char *out, size_t size, size_t *at, const char *text, size_t limit)
{
	size_t len = strlen(text);
	if (len > limit) {
		len = limit;
		while (len > 0 && ((unsigned char)text[len] & 0xC0) == 0x80) len--;
	}
	for (size_t i = 0; i < len && *at + 7 < size; i++) {
		unsigned char c = (unsigned char)text[i];
		if (c == '"' || c == '\\') {
			out[(*at)++] = '\\';
			out[(*at)++] = (char)c;
		} else if (c < 0x20) {
			*at += (size_t)snprintf(out + *at, size - *at, "\\u%04x", c);
		} else {
			out[(*at)++] = (char)c;
		}
	}
	out[*at] = '\0';
}

static void send_notice(const char *user, const char *client_id,
		const struct mosquitto_evt_acl_check *ed)
{
	time_t now = time(NULL);
	if (now != window) {
		window = now;
		sent_in_window = 0;
	}
	if (sent_in_window >= NOTICES_PER_SECOND) {
		held++;
		return;
	}
	sent_in_window++;
	char at[32], body[4096]; /* fits the worst case: every input byte escaped */
	struct tm utc;
	strftime(at, sizeof at, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &utc));
	size_t len = (size_t)snprintf(body, sizeof body, "{\"v\":1,\"username\":\"");
	put_json(body, sizeof body, &len, user, 128);
	len += (size_t)snprintf(body + len, sizeof body - len, "\",\"client_id\":\"");
	put_json(body, sizeof body, &len, client_id, 128);
	len += (size_t)snprintf(body + len, sizeof body - len, "\",\"topic\":\"");
	put_json(body, sizeof body, &len, ed->topic, TOPIC_SHOWN);
	len += (size_t)snprintf(body + len, sizeof body - len,
		"\",\"qos\":%d,\"retain\":%s,\"payload_bytes\":%lu,\"at\":\"%s\",\"held\":%lu}",
		ed->qos, ed->retain ? "true" : "false", (unsigned long)ed->payloadlen, at, held);
	if (len >= sizeof body) return; /* cannot happen with the limits above */
	held = 0;
	/* QoS 1: queued in the alert service's persistent session while the hub restarts. */
	mosquitto_broker_publish_copy(NULL, notice_topic, (int)len, body, 1, false, NULL);
}

static int on_acl_check(int event, void *event_data, void *userdata)
{
	(void)event;
	(void)userdata;
	const struct mosquitto_evt_acl_check *ed = event_data;
	if (ed->access != MOSQ_ACL_WRITE) return MOSQ_ERR_PLUGIN_DEFER;
	const char *user = mosquitto_client_username(ed->client);
	if (user == NULL || strncmp(user, DEVICE_PREFIX, strlen(DEVICE_PREFIX)) != 0
			|| own_topic(user, ed->topic)) {
		return MOSQ_ERR_PLUGIN_DEFER; /* not a device, or its own topic: the ACL file decides */
	}
	const char *client_id = mosquitto_client_id(ed->client);
	mosquitto_log_printf(MOSQ_LOG_WARNING,
		"canteen_guard: denied %s (client %s) writing %s", user, client_id ? client_id : "",
		ed->topic);
	send_notice(user, client_id ? client_id : "", ed);
	return MOSQ_ERR_ACL_DENIED;
}

int mosquitto_plugin_version(int supported_version_count, const int *supported_versions)
{
	for (int i = 0; i < supported_version_count; i++) {
		if (supported_versions[i] == 5) return 5;
	}
	return -1;
}

int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **userdata,
		struct mosquitto_opt *options, int option_count)
{
	(void)userdata;
	for (int i = 0; i < option_count; i++) {
		if (strcmp(options[i].key, "root") == 0) {
			if (strlen(options[i].value) == 0 || strlen(options[i].value) >= sizeof root
					|| strpbrk(options[i].value, "/+#") != NULL) {
				mosquitto_log_printf(MOSQ_LOG_ERR, "canteen_guard: bad plugin_opt_root");
				return MOSQ_ERR_INVAL;
			}
			strcpy(root, options[i].value);
		}
	}
	snprintf(notice_topic, sizeof notice_topic, "%s/$hub/denied", root);
	plugin_id = identifier;
	mosquitto_log_printf(MOSQ_LOG_INFO, "canteen_guard: notices of refused device "
		"publishes go to %s", notice_topic);
	return mosquitto_callback_register(plugin_id, MOSQ_EVT_ACL_CHECK, on_acl_check, NULL, NULL);
}

int mosquitto_plugin_cleanup(void *userdata, struct mosquitto_opt *options, int option_count)
{
	(void)userdata;
	(void)options;
	(void)option_count;
	return mosquitto_callback_unregister(plugin_id, MOSQ_EVT_ACL_CHECK, on_acl_check, NULL);
}
