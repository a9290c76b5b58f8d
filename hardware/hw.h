/*
 * hw: hardware descriptions read from INI files.
 *
 * A device file (`[device]`) says what one accelerator can do; a node file
 * (`[node]`, `[scaleup]`, `[scaleout]`) names its device file and says how
 * devices are joined inside a node and between nodes. A cluster is a node
 * file times a node count, given by the scenario. All bandwidths are in
 * GB/s = 1e9 bytes per second, per direction; memory sizes in bytes once
 * loaded. See README "Hardware files" for every key.
 */
#ifndef MOESIM_HARDWARE_HW_H
#define MOESIM_HARDWARE_HW_H

#include "common/err.h"

typedef enum hw_dtype {
    HW_BF16 = 0,
    HW_FP16,
    HW_FP8,
    HW_INT8,
    HW_DTYPE_COUNT
} hw_dtype;

/* "bf16", "fp16", "fp8", "int8". */
const char *hw_dtype_name(hw_dtype t);
/* Bytes per element: 2, 2, 1, 1. */
double hw_dtype_bytes(hw_dtype t);
/* Index of name in hw_dtype order, or -1. */
int hw_dtype_parse(const char *name);
extern const char *const hw_dtype_names[HW_DTYPE_COUNT];
/* The device-file key of each dtype's peak rate: "bf16_tflops", ...,
 * "int8_tops". */
extern const char *const hw_peak_keys[HW_DTYPE_COUNT];

#define HW_NAME_MAX 96
#define HW_PATH_MAX 1024
#define HW_EFF_POINTS_MAX 16

typedef struct hw_device {
    char name[HW_NAME_MAX];
    char path[HW_PATH_MAX];
    double peak_tflops[HW_DTYPE_COUNT]; /* dense; 0 = not supported */
    double memory_bytes;
    double memory_gbps;
    double compute_efficiency; /* achieved / peak for large matmuls */
    double memory_efficiency;  /* achieved / peak memory bandwidth */
    double matmul_overhead_us; /* fixed cost per matmul operator */
    double vector_overhead_us; /* fixed cost per vector operator */
    double comm_overhead_us;   /* fixed cost per communication operator */
    double power_w;            /* board power; 0 = unknown */
    double price_per_hour_usd; /* rental or amortised price; 0 = unset */
    /* Efficiency multiplier for matmuls with few rows (tokens), linearly
     * interpolated between points and clamped to the end points outside
     * them; 1 everywhere when there are none. */
    int n_eff_points;
    double eff_tokens[HW_EFF_POINTS_MAX];
    double eff_factor[HW_EFF_POINTS_MAX];
} hw_device;

typedef enum hw_scaleup_kind {
    HW_SCALEUP_FULL_MESH = 0, /* a fixed link per device pair (HCCS) */
    HW_SCALEUP_SWITCH,        /* a switch port per device (NVSwitch, UB) */
    HW_SCALEUP_PCIE_HOST,     /* PCIe links into the host, no device fabric */
    HW_SCALEUP_COUNT
} hw_scaleup_kind;
extern const char *const hw_scaleup_names[HW_SCALEUP_COUNT];

typedef enum hw_scaleout_kind {
    HW_SCALEOUT_NONE = 0,  /* single node only */
    HW_SCALEOUT_FAT_TREE,  /* per-device NICs into a two-level fat tree */
    HW_SCALEOUT_COUNT
} hw_scaleout_kind;
extern const char *const hw_scaleout_names[HW_SCALEOUT_COUNT];

typedef struct hw_node {
    char name[HW_NAME_MAX];
    char path[HW_PATH_MAX];
    hw_device device;
    int devices; /* accelerators per node */

    hw_scaleup_kind scaleup;
    /* full mesh: per device pair; switch: per device port; pcie-host: per
     * host link (shared by devices_per_link devices). Per direction. */
    double scaleup_gbps;
    double scaleup_latency_us;
    int span_nodes;       /* switch only: nodes one switch fabric reaches */
    int devices_per_link; /* pcie-host only */

    hw_scaleout_kind scaleout;
    double nic_gbps;          /* per device, per direction */
    double scaleout_latency_us;
    double oversubscription;  /* leaf downlink : uplink; 1 = non-blocking */
    int devices_per_leaf;     /* NIC ports per leaf switch */

    double node_power_w;          /* whole node incl. devices; 0 = unknown */
    double node_price_per_hour_usd; /* 0 = unset */
} hw_node;

/* Loads a device file into *out. ERR_INPUT with FILE:LINE on bad input. */
int hw_device_load(const char *path, hw_device *out, err_t *e);

/* Loads a node file and the device file it names (relative to the node
 * file's folder) into *out. */
int hw_node_load(const char *path, hw_node *out, err_t *e);

/* Peak FLOP/s for a dtype, or 0 when the device lacks it. */
double hw_peak_flops(const hw_device *d, hw_dtype t);

/* Achieved memory bandwidth in bytes/s: memory_gbps * 1e9 *
 * memory_efficiency. */
double hw_memory_bytes_per_s(const hw_device *d);

/* Ridge point of the roofline in FLOP per byte for dtype t:
 * peak_flops * compute_eff / hw_memory_bytes_per_s. */
double hw_ridge_flop_per_byte(const hw_device *d, hw_dtype t);

/* Efficiency multiplier for a matmul whose row count is tokens. */
double hw_matmul_eff_factor(const hw_device *d, double tokens);

#endif
