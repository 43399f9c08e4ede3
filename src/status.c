/* status.c - see status.h. */
#include "status.h"

#include <unistd.h>

#include "commands.h"
#include "health.h"
#include "util.h"

void status_json(struct outbuf *o, const struct snapshot *snap, const struct run_state *st)
{
	unsigned int up = 0, stale = 0, n = snap ? snap->n_gpus : 0;
	char ts[32] = "";

	for (unsigned int i = 0; i < n; i++) {
		up += snap->gpu[i].health == GPU_HEALTH_UP;
		stale += snap->gpu[i].health == GPU_HEALTH_STALE;
	}
	if (snap && snap->seq)
		fmt_iso8601_ms(ts, &snap->wall);
	ob_puts(o, "{\"version\": \"" GPUTEL_VERSION "\", \"mode\": ");
	ob_put_json_str(o, st->mode);
	ob_puts(o, ", \"pid\": ");
	ob_put_u64(o, (uint64_t)getpid());
	ob_puts(o, ", \"backend\": ");
	ob_put_json_str(o, snap && snap->backend ? snap->backend : "none");
	ob_puts(o, ", \"driver_version\": ");
	ob_put_json_str(o, st->driver_version ? st->driver_version : "");
	ob_puts(o, ", \"gpus\": ");
	ob_put_u64(o, n);
	ob_puts(o, ", \"gpus_up\": ");
	ob_put_u64(o, up);
	ob_puts(o, ", \"gpus_stale\": ");
	ob_put_u64(o, stale);
	ob_puts(o, ", \"last_tick\": ");
	if (ts[0])
		ob_put_json_str(o, ts);
	else
		ob_puts(o, "null");
	ob_puts(o, ", \"seq\": ");
	ob_put_u64(o, snap ? snap->seq : 0);
	ob_puts(o, st->telemetry ? ", \"telemetry_active\": true" : ", \"telemetry_active\": false");
	ob_puts(o, ", \"activity\": ");
	if (st->activity)
		ob_put_json_str(o, st->activity);
	else
		ob_puts(o, "null");
	ob_puts(o, ", \"active_periods\": ");
	ob_put_u64(o, st->periods);
	ob_puts(o, ", \"allocations\": ");
	ob_put_u64(o, st->allocations);
	ob_puts(o, ", \"log_file\": ");
	if (st->log_file[0])
		ob_put_json_str(o, st->log_file);
	else
		ob_puts(o, "null");
	/* Each GPU on the node: its health and why (sink_health.c); null where no run judges it. */
	ob_puts(o, ", \"health\": ");
	if (st->health) {
		bool first = true;

		ob_put(o, "[", 1);
		for (size_t i = 0; i < st->n_health; i++) {
			if (!st->health[i].present)
				continue;
			if (!first)
				ob_puts(o, ", ");
			first = false;
			health_json(o, &st->health[i].id, &st->health[i].h, NULL);
		}
		ob_put(o, "]", 1);
	} else {
		ob_puts(o, "null");
	}
	ob_put(o, "}", 1);
}
