/*
 * net: the network of an accelerator cluster and the time of one traffic
 * exchange on it (prefix net_).
 *
 * Topology, from plain numbers (the hardware loader fills net_params_t
 * from its INI files; this module reads no files):
 *   - devices in nodes of devices_per_node;
 *   - a scale-up fabric inside each node, one of
 *       full mesh  one link per ordered device pair (HCCS: 28 GB/s per
 *                  direction per pair on an Atlas 800 A2);
 *       switch     one port per device, any pair may use a whole port
 *                  (NVSwitch; a unified-bus switch may reach the devices
 *                  of span_nodes nodes, a super-node, as CloudMatrix384);
 *       PCIe host  each device (or card of devices_per_link devices) has a
 *                  link to the host; device-to-device traffic goes up the
 *                  source's link and down the destination's;
 *   - scale-out between nodes (unless nic_gbps is 0): one NIC per device
 *     into a two-level fat tree of leaf switches under a spine. Each leaf
 *     has devices_per_leaf NIC ports and uplinks of devices_per_leaf *
 *     nic_gbps / oversubscription in total; the spine is not a bottleneck
 *     and a leaf's uplinks act as one resource (perfect ECMP spreading).
 *
 * Every link is directional (full duplex): a "link" below is one direction
 * of one cable or port, with its own bandwidth. Bandwidths are GB/s = 1e9
 * bytes/s per direction.
 *
 * Routes: inside a node over the scale-up fabric; between nodes of one
 * super-node over its switch; otherwise source NIC up, [leaf up, leaf
 * down if the NICs are under different leaves], destination NIC down.
 * Latency: scaleup_latency_us inside the scale-up fabric; between nodes
 * scaleout_latency_us + hop_latency_us per switch crossed (1 under one
 * leaf, 3 through the spine).
 *
 * An exchange is a traffic matrix, bytes[src * devices + dst] for every
 * ordered device pair (the diagonal is local and ignored), all sent at
 * once. Two fidelities:
 *   analytic    time = max over links of (bytes through it / bandwidth)
 *               + the longest path latency among the pairs that send;
 *   flow-level  every sending pair is a flow; links are shared max-min
 *               fairly (sim/maxmin) and rates recomputed as flows end;
 *               a flow ends when its last byte left plus its path latency.
 * They agree exactly when one bottleneck decides (every flow held by the
 * same link and of equal latency); otherwise the analytic time is the
 * bound and the flow-level time the fluid estimate. The flow-level run
 * batches finishes that fall close together (flow_window below), which
 * makes it slightly late against the exact fluid model.
 *
 * A net_t keeps scratch space for exchanges (reused; not thread-safe).
 */
#ifndef MOESIM_SIM_NET_H
#define MOESIM_SIM_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "sim/maxmin.h"

typedef struct net net_t;

typedef enum net_scaleup_kind {
    NET_SCALEUP_FULL_MESH = 0,
    NET_SCALEUP_SWITCH,
    NET_SCALEUP_PCIE_HOST
} net_scaleup_kind_t;

/* Devices accepted (device pairs must fit 32-bit flow counts). */
#define NET_MAX_DEVICES 16384u
/* Longest route, in links. */
#define NET_PATH_MAX 4
/* Room for a link name such as "hccs 1023->1017" or "nic-down 16383". */
#define NET_LINK_NAME_MAX 40

typedef struct net_params {
    uint32_t devices;
    uint32_t devices_per_node;    /* devices % devices_per_node == 0 */
    net_scaleup_kind_t scaleup;
    /* full mesh: per device pair; switch: per device port; PCIe: per host
     * link. Per direction. */
    double scaleup_gbps;
    double scaleup_latency_us;
    uint32_t span_nodes;          /* switch: nodes one fabric reaches; 0, 1: own node */
    uint32_t devices_per_link;    /* PCIe: devices sharing a host link; 0, 1: one each */
    const char *scaleup_label;    /* link names ("hccs", "nvlink", "ub"); NULL:
                                   * "mesh", "switch", "pcie". Copied. */
    double nic_gbps;              /* per device, per direction; 0: no scale-out */
    double scaleout_latency_us;   /* per transfer between nodes */
    double hop_latency_us;        /* per switch crossed between nodes */
    double oversubscription;      /* leaf ports : uplinks; 1 (or 0) = non-blocking */
    uint32_t devices_per_leaf;    /* NIC ports per leaf; 0: one leaf, no spine */
    bool rail_aligned;            /* a leaf holds the NICs of one in-node index
                                   * (rail) of consecutive nodes, as in DGX
                                   * rail-optimised fabrics; else consecutive
                                   * devices share a leaf */
    /* Flow-level batching window as a fraction of the exchange's analytic
     * busy time (see maxmin_set_window): 0 takes NET_FLOW_WINDOW_DEFAULT,
     * a negative value asks for the exact run. */
    double flow_window;
} net_params_t;

/* Finishes within 1e-3 of the busiest link's busy time share one rate
 * recomputation: a 256-device skewed all-to-all then takes about a second
 * instead of minutes, and its makespan comes out 0.14% late. Exchanges
 * whose flows end together (one bottleneck, equal sizes) are unaffected. */
#define NET_FLOW_WINDOW_DEFAULT 1e-3

/* What one exchange cost. */
typedef struct net_result {
    double time_s;               /* completion of the whole exchange */
    double bytes_intra_node;     /* between devices of one node */
    double bytes_inter_node;     /* between nodes (any fabric) */
    double bytes_scaleout;       /* of those, through NICs */
    uint32_t flows;              /* sending device pairs */
    double latency_s;            /* longest path latency among them */
    int32_t busiest_link;        /* highest bytes / bandwidth; -1 if no traffic */
    char busiest_link_name[NET_LINK_NAME_MAX];
    double busiest_link_bytes;
    /* busiest link's busy time (bytes / bandwidth) over time_s */
    double busiest_link_util;
} net_result_t;

/* Builds a topology. On success *out is a new net the caller owns
 * (net_destroy). ERR_INPUT naming the offending parameter for bad or
 * inconsistent numbers (including several nodes without a fabric between
 * them), ERR_NOMEM. */
int net_create(net_t **out, const net_params_t *p, err_t *err);
void net_destroy(net_t *net); /* NULL is a no-op */

uint32_t net_devices(const net_t *net);
uint32_t net_nodes(const net_t *net);
uint32_t net_node_of(const net_t *net, uint32_t device);
uint32_t net_links(const net_t *net);
double net_link_gbps(const net_t *net, uint32_t link);
/* A readable name: "hccs 3->5", "switch-up 2", "nic-down 12", "leaf-up 0". */
void net_link_name(const net_t *net, uint32_t link, char *buf, size_t size);

/* The route from src to dst (src != dst): its links into links[] (in
 * order) and their count as the return value; its latency into
 * *latency_s if not NULL. Returns 0 for src == dst. */
uint32_t net_path(const net_t *net, uint32_t src, uint32_t dst,
                  uint32_t links[NET_PATH_MAX], double *latency_s);

/* Analytic time of the exchange bytes[devices * devices] (borrowed).
 * ERR_INPUT for a negative or non-finite entry. */
int net_exchange_analytic(net_t *net, const double *bytes, net_result_t *out,
                          err_t *err);

/* Flow-level time of the same. finish_s (caller-owned, devices * devices
 * entries, may be NULL) receives each pair's finish time including its
 * latency, 0 for pairs that send nothing. Cost: see sim/maxmin.c. */
int net_exchange_flow(net_t *net, const double *bytes, net_result_t *out,
                      double *finish_s, err_t *err);

/* Bytes through each link in the last exchange (net_links() entries).
 * Borrowed; valid until the next exchange or net_destroy. */
const double *net_link_bytes(const net_t *net);

/* The max-min solver's counters for the last flow-level exchange. */
maxmin_stats_t net_flow_stats(const net_t *net);

typedef enum net_dispatch_mode {
    /* every (token, destination device) pair is sent straight there */
    NET_DISPATCH_DIRECT = 0,
    /* DeepSeek-V3 style: a token crosses the scale-out fabric once per
     * destination node, to the device with its source's in-node index,
     * which forwards it over the scale-up fabric to each destination
     * device of that node; destinations in the source's own node are
     * sent directly. */
    NET_DISPATCH_NODE_LIMITED
} net_dispatch_mode_t;

/* The traffic matrix of a dispatch into bytes[devices * devices]
 * (caller-owned, overwritten). Token t starts on device token_src[t] and
 * goes to the devices dst_dev[dst_start[t] .. dst_start[t + 1] - 1] (a
 * device listed twice receives the token once; the source itself
 * receives nothing); each copy is bytes_per_token. Both hops of a relayed
 * token are in the matrix; an exchange runs them at once, as pipelined
 * implementations (DeepEP) overlap them. Arrays borrowed. ERR_INPUT for a
 * device out of range, ERR_NOMEM. */
int net_dispatch_matrix(const net_t *net, uint32_t tokens,
                        const uint32_t *token_src, const uint32_t *dst_start,
                        const uint32_t *dst_dev, double bytes_per_token,
                        net_dispatch_mode_t mode, double *bytes, err_t *err);

#endif
