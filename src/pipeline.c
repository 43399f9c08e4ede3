/* pipeline.c - see pipeline.h. */
#include "pipeline.h"

#include <string.h>

#include "util.h"

void pipeline_init(struct pipeline *p, const char *mode, const struct config *cfg,
		   struct sampler *sampler)
{
	memset(p, 0, sizeof *p);
	p->st.mode = mode;
	p->st.cfg = cfg;
	p->st.sampler = sampler;
	p->st.driver_version = "";
	p->st.csv_gpus = ~(uint64_t)0;
}

int pipeline_add(struct pipeline *p, const struct sink_ops *ops, char *err, size_t errlen)
{
	struct sink *k;
	int r;

	if (p->n_sinks == PIPELINE_SINKS_MAX) {
		str_copy(err, "too many sinks", errlen);
		return -1;
	}
	k = &p->sinks[p->n_sinks];
	k->ops = ops;
	k->self = NULL;
	r = ops->open(&k->self, p, err, errlen);
	if (r < 0)
		return -1;
	if (r == 0)
		p->n_sinks++;
	return 0;
}

void pipeline_tick(struct pipeline *p, const struct snapshot *snap)
{
	if (p->policy && !p->policy->decide(p->policy_ctx, p, snap))
		return;
	for (size_t i = 0; i < p->n_sinks; i++)
		p->sinks[i].ops->write(p->sinks[i].self, snap);
	if (p->policy)
		p->policy->after(p->policy_ctx, p, snap);
}

void pipeline_fresh(struct pipeline *p, const struct snapshot *snap)
{
	for (size_t i = 0; i < p->n_sinks; i++)
		if (p->sinks[i].ops->fresh)
			p->sinks[i].ops->fresh(p->sinks[i].self, snap);
}

void pipeline_reopen(struct pipeline *p)
{
	for (size_t i = 0; i < p->n_sinks; i++)
		if (p->sinks[i].ops->reopen)
			p->sinks[i].ops->reopen(p->sinks[i].self);
}

void pipeline_reload(struct pipeline *p, const struct config *old)
{
	if (p->policy && p->policy->reload)
		p->policy->reload(p->policy_ctx, p, old);
	for (size_t i = 0; i < p->n_sinks; i++)
		if (p->sinks[i].ops->reload)
			p->sinks[i].ops->reload(p->sinks[i].self, old);
}

void pipeline_metrics(struct pipeline *p, struct outbuf *o, const struct snapshot *snap)
{
	for (size_t i = 0; i < p->n_sinks; i++)
		if (p->sinks[i].ops->metrics)
			p->sinks[i].ops->metrics(p->sinks[i].self, o, snap);
}

void pipeline_event(struct pipeline *p, const char *name, const char *fields_json)
{
	for (size_t i = 0; i < p->n_sinks; i++)
		if (p->sinks[i].ops->event)
			p->sinks[i].ops->event(p->sinks[i].self, name, fields_json);
}

void pipeline_gpu_event(struct pipeline *p, const struct gpu_event *ev)
{
	for (size_t i = 0; i < p->n_sinks; i++)
		if (p->sinks[i].ops->gpu_event)
			p->sinks[i].ops->gpu_event(p->sinks[i].self, ev);
}

void pipeline_alloc_ended(struct pipeline *p, const struct alloc *a)
{
	for (size_t i = 0; i < p->n_sinks; i++)
		if (p->sinks[i].ops->alloc_ended)
			p->sinks[i].ops->alloc_ended(p->sinks[i].self, a);
}

void pipeline_period_ended(struct pipeline *p, const char *ended_by)
{
	const struct run_state *st = &p->st;
	struct activity_period period = {
		.number = st->periods,
		.begun_wall_ns = st->period_begun_wall_ns,
		.ended_wall_ns = wall_now_ns(),
		.reason = st->period_reason ? st->period_reason : "utilisation",
		.ended_by = ended_by,
		.csv_path = st->csv_path,
		.csv_rows = st->csv_period_rows,
		.csv_dropped = st->csv_period_dropped,
	};

	for (size_t i = 0; i < p->n_sinks; i++)
		if (p->sinks[i].ops->period_ended)
			p->sinks[i].ops->period_ended(p->sinks[i].self, &period);
}

bool pipeline_request(struct pipeline *p, const char *method, const char *path, const char *body, size_t len,
		      struct control_reply *r)
{
	for (size_t i = 0; i < p->n_sinks; i++)
		if (p->sinks[i].ops->request &&
		    p->sinks[i].ops->request(p->sinks[i].self, method, path, body, len, r))
			return true;
	return false;
}

size_t pipeline_fds(const struct pipeline *p, int *fds, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < p->n_sinks && n < max; i++)
		if (p->sinks[i].ops->fd && p->sinks[i].ops->io) {
			int fd = p->sinks[i].ops->fd(p->sinks[i].self);

			if (fd >= 0)
				fds[n++] = fd;
		}
	return n;
}

void pipeline_io(struct pipeline *p, int fd)
{
	for (size_t i = 0; i < p->n_sinks; i++) {
		const struct sink_ops *ops = p->sinks[i].ops;

		if (ops->fd && ops->io && (fd < 0 || ops->fd(p->sinks[i].self) == fd))
			ops->io(p->sinks[i].self);
	}
}

bool pipeline_done(const struct pipeline *p)
{
	return p->st.stop || (p->policy && p->policy->done && p->policy->done(p->policy_ctx));
}

void pipeline_close(struct pipeline *p)
{
	while (p->n_sinks > 0) {
		struct sink *k = &p->sinks[--p->n_sinks];

		k->ops->close(k->self);
		k->self = NULL;
	}
}
