process.stdout.write("blackstart-agent\n");
