/* SPDX-License-Identifier: MIT */
/* The subcommands. Each takes argv from its own name on and returns the
 * process exit code (CLI_OK, CLI_FAIL or CLI_USAGE). */
#ifndef CNNRUN_COMMANDS_H
#define CNNRUN_COMMANDS_H

int cmd_summary(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_forward(int argc, char **argv);
int cmd_plugins(int argc, char **argv);
int cmd_check_plugin(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_features(int argc, char **argv);
int cmd_linear(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_pack(int argc, char **argv);
#ifdef CNNRUN_HAVE_ONNX
int cmd_import(int argc, char **argv);
int cmd_export(int argc, char **argv);
#endif

#endif
